//! Which RDMA device, port, GID and traffic class the verbs provider uses
//! (`ferry.rdma.*`): checked against the devices once when the provider
//! starts, so a wrong value is an error naming its key, then applied to every
//! connection. rdma_cm still sets each connection up: it picks the device and
//! port by the route to the peer, so a chosen device or port is enforced (a
//! connection routed elsewhere fails, or falls back to tcp under `auto`), and
//! a chosen GID becomes the source address rdma_cm resolves from.

use std::net::{IpAddr, Ipv6Addr};

use super::DeviceInfo;
use crate::config::RdmaConfig;
use crate::error::{Error, Result};

/// The checked choice, and why each part is what it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choice {
    pub device: Option<String>,
    pub port: Option<u8>,
    /// The chosen GID's address: connections resolve from it.
    pub source: Option<IpAddr>,
    pub tos: Option<u8>,
}

impl Choice {
    /// Checks `config` against the devices present.
    pub fn resolve(config: &RdmaConfig, devices: &[DeviceInfo]) -> Result<Choice> {
        let mut choice = Choice {
            tos: config.tos,
            ..Choice::default()
        };
        let Some(name) = &config.device else {
            return Ok(choice);
        };
        let device = devices.iter().find(|d| &d.name == name).ok_or_else(|| {
            let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
            Error::config(
                "ferry.rdma.device",
                format!(
                    "no RDMA device named `{name}` here (found: {})",
                    names.join(", ")
                ),
            )
        })?;
        choice.device = Some(name.clone());
        if let Some(port) = config.port {
            if !device.ports.iter().any(|p| p.number == port) {
                return Err(Error::config(
                    "ferry.rdma.port",
                    format!(
                        "{name} has no port {port} (ports 1 to {})",
                        device.ports.len()
                    ),
                ));
            }
            choice.port = Some(port);
        }
        if let Some(index) = config.gid_index {
            if device.transport == "iWARP" {
                return Err(Error::config(
                    "ferry.rdma.gid.index",
                    format!("{name} is iWARP: it has no GID to choose; leave the key at auto"),
                ));
            }
            let port = choice.port.unwrap_or(1);
            let gid = device
                .ports
                .iter()
                .find(|p| p.number == port)
                .and_then(|p| p.gids.iter().find(|(i, _)| *i == index))
                .ok_or_else(|| {
                    Error::config(
                        "ferry.rdma.gid.index",
                        format!(
                            "{name} port {port} has no GID at index {index} (see `ferry info`)"
                        ),
                    )
                })?;
            choice.source = Some(gid_address(&gid.1).ok_or_else(|| {
                Error::config(
                    "ferry.rdma.gid.index",
                    format!(
                        "GID {index} of {name} ({}) holds no routable IP address (RoCE v2 GIDs do)",
                        gid.1
                    ),
                )
            })?);
        }
        Ok(choice)
    }

    /// Fails a connection that rdma_cm routed through another device or port than chosen.
    pub fn check_route(&self, device: &str, port: u8, peer: &str) -> Result<()> {
        if let Some(want) = self.device.as_deref().filter(|want| *want != device) {
            return Err(Error::ProviderUnavailable(format!(
                "ferry.rdma.device is {want}, but the route to {peer} goes through {device}"
            )));
        }
        if let Some(want) = self.port.filter(|want| *want != port) {
            return Err(Error::ProviderUnavailable(format!(
                "ferry.rdma.port is {want}, but the route to {peer} goes through port {port} of {device}"
            )));
        }
        Ok(())
    }

    /// One line per key for `ferry info`: what was chosen and why.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![match &self.device {
            Some(device) => {
                format!("device {device} (ferry.rdma.device): connections routed elsewhere fail")
            }
            None => {
                "device: per peer, the one rdma_cm routes to it through (ferry.rdma.device unset)"
                    .into()
            }
        }];
        lines.push(match self.port {
            Some(port) => format!("port {port} (ferry.rdma.port)"),
            None => "port: the routed one (ferry.rdma.port = 0)".into(),
        });
        lines.push(match self.source {
            Some(ip) => format!("source address {ip}, from the GID at ferry.rdma.gid.index"),
            None => {
                "GID: the one of the routed source address (ferry.rdma.gid.index = auto)".into()
            }
        });
        lines.push(match self.tos {
            Some(tos) => format!("type of service {tos} (ferry.rdma.tos)"),
            None => "type of service: the system default (ferry.rdma.tos = auto)".into(),
        });
        lines
    }
}

/// The IP address a RoCE v2 GID holds: IPv4-mapped, or a global IPv6 address.
fn gid_address(text: &str) -> Option<IpAddr> {
    let gid: Ipv6Addr = text.parse().ok()?;
    if let Some(v4) = gid.to_ipv4_mapped() {
        return Some(IpAddr::V4(v4));
    }
    // Link-local (fe80::/10) GIDs are RoCE v1 / InfiniBand style: no route from them.
    let link_local = gid.segments()[0] & 0xffc0 == 0xfe80;
    (!link_local && !gid.is_unspecified()).then_some(IpAddr::V6(gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::verbs::PortInfo;

    fn device(name: &str, transport: &str, gids: &[(u32, &str)]) -> DeviceInfo {
        DeviceInfo {
            name: name.into(),
            transport: transport.into(),
            fw_ver: String::new(),
            max_qp_wr: 1024,
            max_qp_rd_atom: 16,
            ports: vec![PortInfo {
                number: 1,
                state: "PORT_ACTIVE".into(),
                link_layer: "Ethernet".into(),
                active_mtu: 1024,
                lid: 0,
                gids: gids.iter().map(|(i, g)| (*i, g.to_string())).collect(),
            }],
        }
    }

    fn devices() -> Vec<DeviceInfo> {
        vec![
            device(
                "rxe0",
                "InfiniBand",
                &[
                    (0, "fe80:0000:0000:0000:0000:00ff:fe00:0001"),
                    (1, "0000:0000:0000:0000:0000:ffff:c000:0201"),
                ],
            ),
            device(
                "siw0",
                "iWARP",
                &[(0, "0200:0000:0000:0000:0000:0000:0000:0000")],
            ),
        ]
    }

    fn config(pairs: &[(&str, &str)]) -> RdmaConfig {
        crate::Config::from_pairs(pairs.iter().copied())
            .unwrap()
            .rdma
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        Choice::resolve(&config(pairs), &devices())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_choose_nothing() {
        let choice = Choice::resolve(&config(&[]), &devices()).unwrap();
        assert_eq!(choice, Choice::default());
        assert!(choice.check_route("siw0", 1, "peer").is_ok());
        assert!(choice.describe()[0].contains("rdma_cm routes"));
    }

    #[test]
    fn a_named_device_port_gid_and_tos() {
        let pairs = [
            ("ferry.rdma.device", "rxe0"),
            ("ferry.rdma.port", "1"),
            ("ferry.rdma.gid.index", "1"),
            ("ferry.rdma.tos", "104"),
        ];
        let choice = Choice::resolve(&config(&pairs), &devices()).unwrap();
        assert_eq!(choice.device.as_deref(), Some("rxe0"));
        assert_eq!(choice.port, Some(1));
        assert_eq!(choice.source, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(choice.tos, Some(104));
        assert!(choice.check_route("rxe0", 1, "peer").is_ok());
        let wrong = choice.check_route("siw0", 1, "192.0.2.2:7000").unwrap_err();
        assert!(wrong.to_string().contains("ferry.rdma.device"), "{wrong}");
        assert!(wrong.to_string().contains("siw0"), "{wrong}");
        let text = choice.describe().join("\n");
        assert!(text.contains("device rxe0") && text.contains("192.0.2.1") && text.contains("104"));
    }

    #[test]
    fn wrong_values_name_their_key() {
        let e = error(&[("ferry.rdma.device", "mlx5_9")]);
        assert!(
            e.contains("ferry.rdma.device") && e.contains("rxe0, siw0"),
            "{e}"
        );
        let e = error(&[("ferry.rdma.device", "rxe0"), ("ferry.rdma.port", "2")]);
        assert!(e.contains("ferry.rdma.port"), "{e}");
        let e = error(&[("ferry.rdma.device", "rxe0"), ("ferry.rdma.gid.index", "7")]);
        assert!(e.contains("ferry.rdma.gid.index"), "{e}");
        // A link-local GID holds no address to route from.
        let e = error(&[("ferry.rdma.device", "rxe0"), ("ferry.rdma.gid.index", "0")]);
        assert!(
            e.contains("ferry.rdma.gid.index") && e.contains("no routable"),
            "{e}"
        );
        let e = error(&[("ferry.rdma.device", "siw0"), ("ferry.rdma.gid.index", "0")]);
        assert!(
            e.contains("ferry.rdma.gid.index") && e.contains("iWARP"),
            "{e}"
        );
    }
}
