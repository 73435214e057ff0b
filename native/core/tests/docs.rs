//! The README documents every configuration key with its default.

use ferry_core::config::KEYS;

#[test]
fn readme_lists_every_key_with_its_default() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for key in KEYS {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", key.name)))
            .unwrap_or_else(|| panic!("README has no row for {}", key.name));
        if !key.default.is_empty() {
            assert!(
                row.contains(&format!("`{}`", key.default)),
                "README row for {} lacks default {}",
                key.name,
                key.default
            );
        }
    }
}
