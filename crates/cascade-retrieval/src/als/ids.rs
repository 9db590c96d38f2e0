//! Dense indices for string ids.

use ahash::HashMap;

/// A two-way map between string ids and dense indices `0..len`, in order of first sight.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    index: HashMap<String, u32>,
    ids: Vec<String>,
}

impl IdMap {
    /// The index of `id`, assigning the next one if it is new.
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&index) = self.index.get(id) {
            return index;
        }
        let index = u32::try_from(self.ids.len()).expect("fewer than 2^32 ids");
        self.index.insert(id.to_string(), index);
        self.ids.push(id.to_string());
        index
    }

    /// The index of `id`, if it has one.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The id at `index`.
    pub fn id(&self, index: u32) -> &str {
        &self.ids[index as usize]
    }

    /// How many ids are mapped.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id is mapped.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_in_order_of_first_sight() {
        let mut map = IdMap::default();
        assert_eq!(map.intern("b"), 0);
        assert_eq!(map.intern("a"), 1);
        assert_eq!(map.intern("b"), 0);
        assert_eq!((map.get("a"), map.get("c")), (Some(1), None));
        assert_eq!((map.id(0), map.len()), ("b", 2));
    }
}
