/**
 * The statuses that end a customer relationship. Writes to such a customer are CONFLICT (SPEC §8), nothing
 * new is screened for it, and no early warning is raised about it.
 */
const CLOSED_STATUSES: ReadonlySet<string> = new Set(['TERMINATED', 'ERASED']);

/** Whether a customer with this status is TERMINATED or ERASED. */
export const isClosedCustomer = (status: string | null | undefined): boolean => status != null && CLOSED_STATUSES.has(status);
