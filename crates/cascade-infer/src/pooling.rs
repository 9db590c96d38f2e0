//! From token states to one sentence vector: mean over the attention mask, then unit length.

use candle_core::{D, Result, Tensor};

/// Averages `hidden` `(rows, tokens, dim)` over the tokens whose `mask` `(rows, tokens)` is 1.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // As sentence-transformers: at least 1e-9 tokens, so an all-padding row cannot divide by 0.
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// Scales each row of `x` `(rows, dim)` to unit L2 norm (norms below 1e-12 count as 1e-12, as
/// torch's `F.normalize` does).
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norms = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn mean_ignores_masked_tokens() {
        let hidden = Tensor::new(&[[[1f32, 2.], [3., 4.], [100., 100.]]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
        let pooled = mean_pool(&hidden, &mask).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), [[2., 3.]]);
    }

    #[test]
    fn rows_get_unit_length() {
        let x = Tensor::new(&[[3f32, 4.], [0., 0.]], &Device::Cpu).unwrap();
        let y = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y, [[0.6, 0.8], [0., 0.]]);
    }
}
