//! Which group a free worker takes next: the most severe waiting group, then the one waiting
//! longest. Pure bookkeeping (no I/O, no locks of its own), so it is table-tested.
//!
//! A group is either ready (in `ready`) or held by exactly one worker, never both, so one
//! group's work still runs in order: only the order *between* groups follows severity. A group
//! that is ready and gets more severe work moves up, keeping its place among equals.
//!
//! A storm leaves one entry here per waiting group, so an entry is kept small: groups go by
//! their [`GroupId`] (not their key, which the stored entries carry), and one waiting
//! notification needs no allocation. 100,000 waiting groups cost about 10 MB.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use smallvec::SmallVec;

use crate::store::{DueItem, GroupId};

/// Place in the ready line: higher rank first, then earlier arrival.
type Place = (Reverse<u8>, u64);

#[derive(Default)]
pub(super) struct Queues {
    groups: HashMap<GroupId, GroupWork>,
    ready: BTreeMap<Place, GroupId>,
    arrivals: u64,
}

/// What is waiting for one group: sequences and due keys only (bodies stay in the store until a
/// worker takes them). Notifications come first; a refill that runs after a newer notification
/// sees it is stale and is dropped without a Flink call.
#[derive(Default)]
pub(super) struct GroupWork {
    seqs: SmallVec<[u64; 1]>,
    /// Few (one per page that went out incomplete), taken from the front.
    refills: Vec<DueItem>,
    /// Outbox items (a request's message and files, an incident's note), in order.
    posts: Vec<u64>,
    rank: u8,
    /// When it became ready: its place among equals.
    arrival: u64,
    /// Ready (in `ready`), as opposed to held by a worker.
    ready: bool,
}

impl GroupWork {
    pub fn push_seq(&mut self, seq: u64) {
        self.seqs.push(seq);
    }

    pub fn push_refill(&mut self, refill: DueItem) {
        self.refills.push(refill);
    }

    pub fn push_post(&mut self, seq: u64) {
        self.posts.push(seq);
    }

    fn place(&self) -> Place {
        (Reverse(self.rank), self.arrival)
    }
}

pub(super) enum Work {
    Notifications(Vec<u64>),
    Refill(DueItem),
    /// Outbox items, oldest first (see `outbox.rs`).
    Posts(Vec<u64>),
}

impl Queues {
    /// Adds work of `rank` for a group; returns whether the group became ready (a worker
    /// should be woken).
    pub fn add(&mut self, id: GroupId, rank: u8, add: impl FnOnce(&mut GroupWork)) -> bool {
        self.arrivals += 1;
        let arrival = self.arrivals;
        if let Some(work) = self.groups.get_mut(&id) {
            add(work);
            if rank > work.rank {
                if work.ready {
                    self.ready.remove(&work.place());
                    work.rank = rank;
                    self.ready.insert(work.place(), id);
                } else {
                    work.rank = rank;
                }
            }
            return false;
        }
        let mut work = GroupWork {
            rank,
            arrival,
            ready: true,
            ..Default::default()
        };
        add(&mut work);
        self.ready.insert(work.place(), id);
        self.groups.insert(id, work);
        true
    }

    /// The next group for a worker, which then holds it.
    #[cfg(test)]
    pub fn take_ready(&mut self) -> Option<GroupId> {
        self.take_ready_at_least(0)
    }

    /// The next group if its rank is at least `min` (for the workers kept for urgent pages).
    pub fn take_ready_at_least(&mut self, min: u8) -> Option<GroupId> {
        let (Reverse(rank), _) = *self.ready.first_key_value()?.0;
        if rank < min {
            return None;
        }
        let (_, id) = self.ready.pop_first()?;
        if let Some(work) = self.groups.get_mut(&id) {
            work.ready = false;
        }
        Some(id)
    }

    /// The held group's next work (at most `max_batch` notifications at once), or `None` after
    /// forgetting the group when it has none left.
    pub fn next_work(&mut self, id: GroupId, max_batch: usize) -> Option<Work> {
        let work = self.groups.get_mut(&id)?;
        if !work.seqs.is_empty() {
            let take = work.seqs.len().min(max_batch);
            return Some(Work::Notifications(work.seqs.drain(..take).collect()));
        }
        if !work.posts.is_empty() {
            return Some(Work::Posts(std::mem::take(&mut work.posts)));
        }
        if !work.refills.is_empty() {
            return Some(Work::Refill(work.refills.remove(0)));
        }
        self.groups.remove(&id);
        None
    }

    /// Puts notifications back in front of a held group's queue (a read that failed).
    pub fn put_back(&mut self, id: GroupId, seqs: Vec<u64>) {
        if let Some(work) = self.groups.get_mut(&id) {
            work.seqs.insert_many(0, seqs);
        }
    }

    #[cfg(test)]
    pub fn groups(&self) -> usize {
        self.groups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WARNING: u8 = 2;
    const CRITICAL: u8 = 4;

    fn id(key: &str) -> GroupId {
        GroupId::of(key)
    }

    fn push(q: &mut Queues, key: &str, rank: u8, seq: u64) -> bool {
        q.add(id(key), rank, |w| w.push_seq(seq))
    }

    fn drain_order(q: &mut Queues) -> Vec<GroupId> {
        std::iter::from_fn(|| q.take_ready()).collect()
    }

    #[test]
    fn a_critical_group_behind_a_thousand_warnings_is_taken_first() {
        let mut q = Queues::default();
        for i in 0..1_000 {
            assert!(push(&mut q, &format!("warning-{i}"), WARNING, i));
        }
        assert!(push(&mut q, "critical", CRITICAL, 1_000));
        assert_eq!(q.take_ready(), Some(id("critical")));
        assert_eq!(q.take_ready(), Some(id("warning-0")));
    }

    #[test]
    fn the_urgent_workers_take_only_urgent_groups() {
        let mut q = Queues::default();
        push(&mut q, "w", WARNING, 1);
        assert!(q.take_ready_at_least(CRITICAL).is_none());
        push(&mut q, "c", CRITICAL, 2);
        assert_eq!(q.take_ready_at_least(CRITICAL), Some(id("c")));
        assert_eq!(q.take_ready(), Some(id("w")));
    }

    #[test]
    fn equal_ranks_keep_arrival_order() {
        let mut q = Queues::default();
        for k in ["a", "b", "c"] {
            push(&mut q, k, WARNING, 0);
        }
        assert_eq!(drain_order(&mut q), [id("a"), id("b"), id("c")]);
    }

    #[test]
    fn a_ready_group_that_turns_critical_moves_up_and_keeps_one_place() {
        let mut q = Queues::default();
        push(&mut q, "a", WARNING, 1);
        push(&mut q, "b", WARNING, 2);
        assert!(!push(&mut q, "b", CRITICAL, 3), "already queued");
        assert_eq!(drain_order(&mut q), [id("b"), id("a")]);
    }

    #[test]
    fn a_held_group_is_not_handed_out_twice_and_its_work_stays_in_order() {
        let mut q = Queues::default();
        push(&mut q, "g", WARNING, 1);
        let key = q.take_ready().unwrap();
        // New work while held: no second worker, the holder sees it after what it has.
        assert!(!push(&mut q, "g", CRITICAL, 2));
        assert!(q.take_ready().is_none());
        let Some(Work::Notifications(s)) = q.next_work(key, 1) else {
            panic!("expected notifications")
        };
        assert_eq!(s, [1]);
        let Some(Work::Notifications(s)) = q.next_work(key, 1) else {
            panic!("expected notifications")
        };
        assert_eq!(s, [2]);
        assert!(q.next_work(key, 1).is_none());
        assert_eq!(q.groups(), 0, "an empty group is forgotten");
        assert!(
            push(&mut q, "g", WARNING, 3),
            "and is ready again on new work"
        );
    }

    #[test]
    fn notifications_come_before_refills_and_a_failed_read_goes_back_in_front() {
        let mut q = Queues::default();
        q.add(id("g"), 0, |w| {
            w.push_refill(DueItem {
                key: vec![1],
                due_ms: 0,
                incident_id: "i".into(),
                group_key: "g".into(),
                attempt: 1,
                notifications: 1,
            })
        });
        push(&mut q, "g", WARNING, 7);
        let key = q.take_ready().unwrap();
        let Some(Work::Notifications(s)) = q.next_work(key, 10) else {
            panic!()
        };
        push(&mut q, "g", WARNING, 8);
        q.put_back(key, s);
        let Some(Work::Notifications(s)) = q.next_work(key, 10) else {
            panic!()
        };
        assert_eq!(s, [7, 8]);
        assert!(matches!(q.next_work(key, 10), Some(Work::Refill(_))));
    }

    #[test]
    fn a_groups_posts_come_after_its_notifications_and_before_its_refills() {
        let mut q = Queues::default();
        let key = GroupId::of("g");
        q.add(key, 0, |w| {
            w.push_refill(DueItem {
                key: vec![1],
                due_ms: 0,
                incident_id: "i".into(),
                group_key: "g".into(),
                attempt: 1,
                notifications: 1,
            })
        });
        q.add(key, 0, |w| w.push_post(7));
        q.add(key, 0, |w| w.push_post(9));
        q.add(key, 0, |w| w.push_seq(1));
        assert_eq!(q.take_ready(), Some(key));
        assert!(matches!(q.next_work(key, 10), Some(Work::Notifications(s)) if s == [1]));
        assert!(matches!(q.next_work(key, 10), Some(Work::Posts(p)) if p == [7, 9]));
        assert!(matches!(q.next_work(key, 10), Some(Work::Refill(_))));
        assert!(q.next_work(key, 10).is_none());
    }
}
