import { laterOfSameCustomer } from './decision-pipeline.service';

type Ev = { id: string; occurredAt: Date; customer: { id: string } };
const ev = (id: string, customer: string, minute: number): Ev => ({ id, customer: { id: customer }, occurredAt: new Date(Date.UTC(2026, 0, 1, 0, minute)) });
const run = (events: Ev[]) => laterOfSameCustomer(events as never);

/** The definition, pair by pair: what each event's windows must not count. */
function pairwise(events: Ev[]): string[][] {
  return events.map((e, k) => events.slice(k + 1).filter((o) => o.customer.id === e.customer.id && o.occurredAt <= e.occurredAt).map((o) => o.id));
}

describe('laterOfSameCustomer', () => {
  it('names, for each event, the same customer\'s later events of the call that are not later in time', () => {
    const events = [ev('a1', 'A', 10), ev('b1', 'B', 10), ev('a2', 'A', 5), ev('a3', 'A', 10), ev('b2', 'B', 11), ev('a4', 'A', 20)];
    expect(run(events)).toEqual([['a2', 'a3'], [], [], [], [], []]);
  });

  it('leaves out other customers\' events and events after it in time', () => {
    expect(run([ev('a1', 'A', 10), ev('b1', 'B', 1), ev('a2', 'A', 11)])).toEqual([[], [], []]);
  });

  it('agrees with the pairwise definition on a mixed call of 1000 events', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const events = Array.from({ length: 1000 }, (_, i) => ev(`e${i}`, `c${Math.floor(random() * 40)}`, Math.floor(random() * 30)));
    expect(run(events)).toEqual(pairwise(events));
  });
});
