import type { RuleModel } from '../models/rule.model';
import type { EventType, RuleAction, RuleMode, RuleStatus, Severity } from '../models/monitoring.enums';

export type RuleRow = {
  id: string; code: string; version: number; name: string; description: string | null; event_types: EventType[]; condition: unknown;
  severity: Severity; actions: RuleAction[]; mode: RuleMode; dedup_window: string; status: RuleStatus; created_at: Date; updated_at: Date;
  activated_at: Date | null; retired_at: Date | null;
};
export const toRuleModel = (r: RuleRow): RuleModel => ({
  id: r.id, code: r.code, version: r.version, name: r.name, description: r.description, eventTypes: r.event_types, condition: r.condition,
  severity: r.severity, actions: r.actions, mode: r.mode, dedupWindow: r.dedup_window, status: r.status, createdAt: r.created_at,
  updatedAt: r.updated_at, activatedAt: r.activated_at, retiredAt: r.retired_at,
});
