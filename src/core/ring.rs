//! A bounded buffer: pushing past capacity drops the oldest item.

use std::collections::VecDeque;

/// How far back [`Ring::extend_sorted`] lets a late item slot in.
pub const MERGE_REACH: usize = 4096;

#[derive(Clone, Debug, PartialEq)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// How many items were dropped since the start.
    dropped: u64,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring {
            items: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            dropped: 0,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(item);
    }

    /// Adds `batch`, keeping the ring ordered by `key`: items older than the
    /// newest kept slot in where they belong (equal keys keep arrival order),
    /// reaching back at most [`MERGE_REACH`] items; anything older lands
    /// there. So a batch costs at most its length plus `MERGE_REACH` moves,
    /// and the usual newest-last batch is a plain append. Past capacity the
    /// oldest items go, whichever side they came from.
    pub fn extend_sorted<K: Ord>(&mut self, mut batch: Vec<T>, key: impl Fn(&T) -> K) {
        batch.sort_by_key(&key);
        let Some(first) = batch.first() else { return };
        let k = key(first);
        let floor = self.items.len().saturating_sub(MERGE_REACH);
        let at = self
            .items
            .range(floor..)
            .rposition(|x| key(x) <= k)
            .map_or(floor, |i| floor + i + 1);
        let tail: Vec<T> = self.items.drain(at..).collect();
        let mut tail = tail.into_iter().peekable();
        let mut batch = batch.into_iter().peekable();
        loop {
            let take_tail = match (tail.peek(), batch.peek()) {
                (Some(t), Some(b)) => key(t) <= key(b),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_tail { tail.next() } else { batch.next() };
            if let Some(item) = next {
                self.push(item);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_oldest_past_capacity() {
        let mut r = Ring::new(3);
        for i in 0..5 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(r.dropped(), 2);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn late_items_slot_in_by_key() {
        let mut r = Ring::new(5);
        r.extend_sorted(vec![10, 20, 30], |x| *x);
        r.extend_sorted(vec![25], |x| *x);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![10, 20, 25, 30]);
        // An unsorted batch reaching back, past capacity: the oldest go.
        r.extend_sorted(vec![40, 15, 35], |x| *x);
        assert_eq!(
            r.iter().copied().collect::<Vec<_>>(),
            vec![20, 25, 30, 35, 40]
        );
        // Older than everything kept: in, then out first.
        r.extend_sorted(vec![5], |x| *x);
        assert_eq!(
            r.iter().copied().collect::<Vec<_>>(),
            vec![20, 25, 30, 35, 40]
        );
        r.extend_sorted(Vec::new(), |x| *x);
        assert_eq!(r.len(), 5);
        assert_eq!(r.dropped(), 3);
        // A late item reaches back at most MERGE_REACH places.
        let mut r = Ring::new(MERGE_REACH + 10);
        r.extend_sorted((1..=MERGE_REACH as u32 + 5).collect(), |x| *x);
        r.extend_sorted(vec![0], |x| *x);
        assert_eq!(r.get(5).copied(), Some(0), "at the reach's edge");
        assert_eq!(r.get(4).copied(), Some(5));
        assert_eq!(r.iter().last().copied(), Some(MERGE_REACH as u32 + 5));
        // Equal keys keep arrival order.
        let mut r = Ring::new(4);
        r.extend_sorted(vec![(1, 'a'), (2, 'b')], |x| x.0);
        r.extend_sorted(vec![(1, 'c'), (2, 'd')], |x| x.0);
        assert_eq!(
            r.iter().map(|x| x.1).collect::<String>(),
            "acbd",
            "each key's items in the order they came"
        );
    }
}
