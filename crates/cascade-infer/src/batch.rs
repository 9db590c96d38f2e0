//! Padding token sequences into one rectangular batch and grouping texts into batches.

use candle_core::{Device, Tensor};

/// Token sequences padded to the longest one: ids and attention mask, both `(rows, width)`.
pub(crate) struct PaddedBatch {
    /// Token ids; padded positions hold the pad id.
    pub ids: Tensor,
    /// 1 for a real token, 0 for padding.
    pub mask: Tensor,
}

impl PaddedBatch {
    /// Pads `sequences` (not empty, none empty) on the right with `pad_id`.
    pub fn new(sequences: &[&[u32]], pad_id: u32, device: &Device) -> candle_core::Result<Self> {
        let rows = sequences.len();
        let width = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for sequence in sequences {
            let padding = width - sequence.len();
            ids.extend_from_slice(sequence);
            ids.extend(std::iter::repeat_n(pad_id, padding));
            mask.extend(std::iter::repeat_n(1u32, sequence.len()));
            mask.extend(std::iter::repeat_n(0u32, padding));
        }
        Ok(Self {
            ids: Tensor::from_vec(ids, (rows, width), device)?,
            mask: Tensor::from_vec(mask, (rows, width), device)?,
        })
    }
}

/// Splits the indices of `lengths` into groups of at most `max_rows`, each holding sequences
/// of similar length (sorted by length), so that little compute goes to padding.
pub(crate) fn group_by_length(lengths: &[usize], max_rows: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order
        .chunks(max_rows.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_on_the_right_and_masks_the_padding() {
        let batch = PaddedBatch::new(&[&[101, 7, 102], &[101, 102]], 0, &Device::Cpu).unwrap();
        assert_eq!(
            batch.ids.to_vec2::<u32>().unwrap(),
            [[101, 7, 102], [101, 102, 0]]
        );
        assert_eq!(batch.mask.to_vec2::<u32>().unwrap(), [[1, 1, 1], [1, 1, 0]]);
    }

    #[test]
    fn groups_cover_every_index_once_in_length_order() {
        let groups = group_by_length(&[5, 1, 9, 3, 7], 2);
        assert_eq!(groups, [vec![1, 3], vec![0, 4], vec![2]]);
        assert!(group_by_length(&[], 4).is_empty());
    }
}
