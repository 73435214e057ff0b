//! The JSON manifest `serve` writes and `fetch`/`bench` read:
//! `{"addr": "...", "blocks": [{"id": ..., "len": ..., "crc32": ...}]}`.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::Context;
use crate::{CliError, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    pub id: String,
    pub len: u64,
    pub crc32: u32,
}

#[derive(Clone, Debug)]
pub struct Manifest {
    pub addr: SocketAddr,
    pub blocks: Vec<BlockSpec>,
}

impl Manifest {
    pub fn to_json(&self) -> Value {
        let blocks: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| json!({"id": b.id, "len": b.len, "crc32": b.crc32}))
            .collect();
        json!({"addr": self.addr.to_string(), "blocks": blocks})
    }

    /// Writes the manifest next to its final name, then renames it into place,
    /// so a reader never sees half a manifest.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text =
            serde_json::to_string(&self.to_json()).context(|| "encoding the manifest".into())?;
        write_atomically(path, text.as_bytes())
    }

    pub fn read(path: &Path) -> Result<Manifest> {
        let text = fs::read_to_string(path).context(|| format!("reading {}", path.display()))?;
        Manifest::parse(&text).context(|| format!("manifest {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Manifest> {
        let value: Value = serde_json::from_str(text).context(|| "not JSON".into())?;
        let addr = value
            .get("addr")
            .and_then(Value::as_str)
            .ok_or_else(|| CliError::new("no \"addr\" string"))?;
        let addr: SocketAddr = addr
            .parse()
            .context(|| format!("\"addr\" `{addr}` is not host:port"))?;
        let blocks = value
            .get("blocks")
            .and_then(Value::as_array)
            .ok_or_else(|| CliError::new("no \"blocks\" array"))?;
        let blocks = blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let field = |name: &str| {
                    block
                        .get(name)
                        .ok_or_else(|| CliError::new(format!("block {i} has no \"{name}\"")))
                };
                let id = field("id")?
                    .as_str()
                    .ok_or_else(|| CliError::new(format!("block {i}: \"id\" is not a string")))?;
                let len = field("len")?
                    .as_u64()
                    .ok_or_else(|| CliError::new(format!("block {i}: \"len\" is not a size")))?;
                let crc32 = field("crc32")?
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| CliError::new(format!("block {i}: \"crc32\" is not a u32")))?;
                Ok(BlockSpec {
                    id: id.to_string(),
                    len,
                    crc32,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Manifest { addr, blocks })
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let manifest = Manifest {
            addr: "127.0.0.1:4000".parse().unwrap(),
            blocks: vec![BlockSpec {
                id: "gen:0".into(),
                len: 10,
                crc32: 0xdead_beef,
            }],
        };
        let text = manifest.to_json().to_string();
        let back = Manifest::parse(&text).unwrap();
        assert_eq!(back.addr, manifest.addr);
        assert_eq!(back.blocks, manifest.blocks);
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let err = Manifest::parse(r#"{"addr":"x","blocks":[]}"#).unwrap_err();
        assert!(err.to_string().contains("addr"), "{err}");
        let err =
            Manifest::parse(r#"{"addr":"127.0.0.1:1","blocks":[{"id":"a","len":1}]}"#).unwrap_err();
        assert!(err.to_string().contains("crc32"), "{err}");
    }
}
