//! Deterministic pseudo-random block content, shared by `serve --generate` and
//! the plain-TCP baseline so both move the same bytes.

use crate::{CliError, Result};

/// Fills `buf` with the content of generated block `index` (splitmix64 stream).
pub fn fill_block(index: u64, buf: &mut [u8]) {
    let mut state = index.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5EED_F355_0000_0001;
    for chunk in buf.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
}

/// `count` generated blocks of `size` bytes, back to back in one allocation.
/// Fails (rather than aborting) when the memory is not there.
pub fn generate(count: u64, size: u64) -> Result<Vec<u8>> {
    let total = count
        .checked_mul(size)
        .and_then(|t| usize::try_from(t).ok())
        .ok_or_else(|| CliError::new(format!("{count} blocks of {size} bytes is too much")))?;
    let mut data = Vec::new();
    data.try_reserve_exact(total).map_err(|e| {
        CliError::new(format!(
            "cannot allocate {total} bytes for {count} generated blocks: {e}"
        ))
    })?;
    data.resize(total, 0);
    if size > 0 {
        for (i, block) in data.chunks_mut(size as usize).enumerate() {
            fill_block(i as u64, block);
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_differs_per_block() {
        let a = generate(3, 1000).unwrap();
        let b = generate(3, 1000).unwrap();
        assert_eq!(a, b);
        assert_ne!(a[..1000], a[1000..2000]);
        let mut single = vec![0u8; 1000];
        fill_block(2, &mut single);
        assert_eq!(single, a[2000..]);
    }
}
