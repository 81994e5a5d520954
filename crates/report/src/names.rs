//! Small building blocks that keep memory proportional to distinct names: an interner (each
//! distinct string stored once, referred to by a `u32`) and a capped counter for per-user
//! detail.

use std::collections::HashMap;

/// Each distinct string is stored once.
#[derive(Debug, Default)]
pub struct Names {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Names {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |s| s)
    }
}

/// Counts per key for at most `cap` keys; later keys land in `other`. Used for per-user detail,
/// where a handful of apps, places and devices describe a pattern and the long tail does not.
#[derive(Debug, Clone, Default)]
pub struct SmallCount<K> {
    pub items: Vec<(K, u32)>,
    pub other: u32,
}

impl<K: PartialEq + Copy> SmallCount<K> {
    pub fn add(&mut self, key: K, cap: usize) {
        if let Some(slot) = self.items.iter_mut().find(|(k, _)| *k == key) {
            slot.1 += 1;
        } else if self.items.len() < cap {
            self.items.push((key, 1));
        } else {
            self.other += 1;
        }
    }
    /// The key with the highest count (first seen wins a tie).
    pub fn top(&self) -> Option<K> {
        let mut best: Option<(K, u32)> = None;
        for &(k, n) in &self.items {
            if best.is_none_or(|(_, b)| n > b) {
                best = Some((k, n));
            }
        }
        best.map(|(k, _)| k)
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// Adds one to a count in a map keyed by interned ids.
pub fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u64>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}

/// Sorts `(key, count)` pairs by count descending, then by key text, for stable top-N tables.
pub fn sorted_desc<'n, K: Copy>(
    items: impl Iterator<Item = (K, u64)>,
    text: impl Fn(K) -> &'n str,
) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = items.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| text(a.0).cmp(text(b.0))));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_and_small_count() {
        let mut n = Names::default();
        let a = n.id("a");
        assert_eq!(n.id("a"), a);
        let b = n.id("b");
        assert_eq!(n.name(b), "b");
        let mut c = SmallCount::default();
        for k in [1, 2, 2, 3, 4] {
            c.add(k, 2);
        }
        assert_eq!(c.items, vec![(1, 1), (2, 2)]);
        assert_eq!(c.other, 2);
        assert_eq!(c.top(), Some(2));
    }
}
