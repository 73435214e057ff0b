//! `ferry info`: providers, RDMA devices and the effective configuration.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use ferry_core::config::KEYS;

use crate::Result;

const SYSFS_INFINIBAND: &str = "/sys/class/infiniband";

pub fn run(pairs: &[(String, String)]) -> Result<()> {
    let config = crate::config(pairs)?;
    let mut out = String::new();
    let _ = writeln!(out, "ferry {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out);
    let _ = writeln!(out, "providers:");
    let _ = writeln!(out, "  tcp    available");
    match ferry_core::provider::verbs::probe() {
        Ok(names) => {
            let _ = writeln!(out, "  verbs  available ({})", names.join(", "));
        }
        Err(reason) => {
            let _ = writeln!(out, "  verbs  unavailable: {reason}");
        }
    }
    // What ferry.rdma.* chose, and why; a wrong value fails `ferry info` after the report.
    let choice = ferry_core::provider::verbs::choose(&config.rdma);
    let _ = writeln!(out, "  RDMA choice (ferry.rdma.*):");
    match &choice {
        Ok(choice) => {
            for line in choice.describe() {
                let _ = writeln!(out, "    {line}");
            }
        }
        Err(error) => {
            let _ = writeln!(out, "    {error}");
        }
    }
    let _ = writeln!(out);
    match ferry_core::provider::verbs::devices() {
        Ok(devices) if !devices.is_empty() => {
            let _ = writeln!(out, "RDMA devices (libibverbs):");
            for device in &devices {
                write_verbs_device(&mut out, device);
            }
        }
        _ => {
            let _ = writeln!(out, "RDMA devices ({SYSFS_INFINIBAND}):");
            let devices = rdma_devices(Path::new(SYSFS_INFINIBAND));
            if devices.is_empty() {
                let _ = writeln!(out, "  none");
            }
            for device in &devices {
                let _ = write!(out, "{device}");
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "configuration (effective value, default; set with -c KEY=VALUE):"
    );
    let effective = config.describe();
    for key in KEYS {
        let value = effective
            .iter()
            .find(|(name, _)| *name == key.name)
            .map_or("?", |(_, v)| v.as_str());
        let default = if key.default.is_empty() {
            "<empty>"
        } else {
            key.default
        };
        let _ = writeln!(out, "  {} = {value}  (default {default})", key.name);
        let _ = writeln!(out, "      {}", key.doc);
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    choice?;
    Ok(())
}

/// A device as libibverbs reports it, laid out like `ibv_devinfo -v` (the parts Ferry uses).
fn write_verbs_device(out: &mut String, device: &ferry_core::provider::verbs::DeviceInfo) {
    let _ = writeln!(out, "  hca_id: {}", device.name);
    let _ = writeln!(out, "    transport:       {}", device.transport);
    let _ = writeln!(out, "    fw_ver:          {}", device.fw_ver);
    let _ = writeln!(out, "    max_qp_wr:       {}", device.max_qp_wr);
    let _ = writeln!(out, "    max_qp_rd_atom:  {}", device.max_qp_rd_atom);
    for port in &device.ports {
        let _ = writeln!(out, "    port: {}", port.number);
        let _ = writeln!(out, "      state:       {}", port.state);
        let _ = writeln!(out, "      active_mtu:  {}", port.active_mtu);
        let _ = writeln!(out, "      lid:         {}", port.lid);
        let _ = writeln!(out, "      link_layer:  {}", port.link_layer);
        for (index, gid) in &port.gids {
            let _ = writeln!(out, "      GID[{index:>3}]:    {gid}");
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Port {
    pub number: String,
    pub state: Option<String>,
    pub link_layer: Option<String>,
    pub gids: Vec<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub node_type: Option<String>,
    pub fw_ver: Option<String>,
    pub ports: Vec<Port>,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "  {}", self.name)?;
        if let Some(node_type) = &self.node_type {
            write!(f, "  type {node_type}")?;
        }
        if let Some(fw) = &self.fw_ver {
            write!(f, "  firmware {fw}")?;
        }
        writeln!(f, "  {} port(s)", self.ports.len())?;
        for port in &self.ports {
            writeln!(
                f,
                "    port {}: state {}, link layer {}",
                port.number,
                port.state.as_deref().unwrap_or("unknown"),
                port.link_layer.as_deref().unwrap_or("unknown")
            )?;
            if port.gids.is_empty() {
                writeln!(f, "      GIDs: none readable")?;
            }
            for gid in &port.gids {
                writeln!(f, "      GID {gid}")?;
            }
        }
        Ok(())
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn sorted_entries(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    // Numeric names (ports, GID indexes) in numeric order, others by name.
    entries.sort_by(|a, b| match (a.0.parse::<u64>(), b.0.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.0.cmp(&b.0),
    });
    entries
}

/// The RDMA devices the kernel lists under `root` (normally /sys/class/infiniband);
/// empty when there is none or the directory is missing.
pub fn rdma_devices(root: &Path) -> Vec<Device> {
    sorted_entries(root)
        .into_iter()
        .map(|(name, dir)| Device {
            name,
            node_type: read_trimmed(&dir.join("node_type")),
            fw_ver: read_trimmed(&dir.join("fw_ver")),
            ports: sorted_entries(&dir.join("ports"))
                .into_iter()
                .map(|(number, port)| Port {
                    number,
                    state: read_trimmed(&port.join("state")),
                    link_layer: read_trimmed(&port.join("link_layer")),
                    gids: sorted_entries(&port.join("gids"))
                        .into_iter()
                        .filter_map(|(_, gid)| read_trimmed(&gid))
                        .filter(|gid| gid.chars().any(|c| c != '0' && c != ':'))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_means_no_devices() {
        assert!(rdma_devices(Path::new("/nonexistent/infiniband")).is_empty());
    }

    #[test]
    fn reads_a_sysfs_like_tree() {
        let root = std::env::temp_dir().join(format!("ferry-sysfs-{}", std::process::id()));
        let port = root.join("rxe0/ports/1");
        fs::create_dir_all(port.join("gids")).unwrap();
        fs::write(root.join("rxe0/node_type"), "1: CA\n").unwrap();
        fs::write(port.join("state"), "4: ACTIVE\n").unwrap();
        fs::write(port.join("link_layer"), "Ethernet\n").unwrap();
        fs::write(
            port.join("gids/0"),
            "fe80:0000:0000:0000:5054:00ff:fe12:3456\n",
        )
        .unwrap();
        fs::write(
            port.join("gids/1"),
            "0000:0000:0000:0000:0000:0000:0000:0000\n",
        )
        .unwrap();
        let devices = rdma_devices(&root);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(devices.len(), 1);
        let device = &devices[0];
        assert_eq!(device.name, "rxe0");
        assert_eq!(device.node_type.as_deref(), Some("1: CA"));
        assert_eq!(device.ports.len(), 1);
        assert_eq!(device.ports[0].link_layer.as_deref(), Some("Ethernet"));
        assert_eq!(
            device.ports[0].gids,
            vec!["fe80:0000:0000:0000:5054:00ff:fe12:3456".to_string()]
        );
        assert!(device.to_string().contains("ACTIVE"));
    }
}
