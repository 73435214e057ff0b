//! What the RDMA devices here are, as `ibv_devinfo` shows them: the device
//! list and each opened device are owned values, freed and closed on drop, so
//! a query is a few small unsafe calls with nothing to clean up by hand.

use std::ffi::c_int;

use super::sys::{self, Lib};

/// One port of an RDMA device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub number: u8,
    pub state: String,
    pub link_layer: String,
    pub active_mtu: u32,
    pub lid: u16,
    /// Non-zero GIDs as (index, text).
    pub gids: Vec<(u32, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    /// "InfiniBand" (also RoCE), "iWARP", or another transport.
    pub transport: String,
    pub fw_ver: String,
    pub max_qp_wr: u32,
    pub max_qp_rd_atom: u32,
    pub ports: Vec<PortInfo>,
}

/// Every RDMA device with its ports and GIDs, queried through libibverbs.
pub fn devices() -> Result<Vec<DeviceInfo>, String> {
    let lib = sys::lib()?;
    let list = DeviceList::get(lib)?;
    Ok(list.devices().map(|device| info(lib, device)).collect())
}

/// The names of the devices here.
pub(crate) fn device_names(lib: &'static Lib) -> Result<Vec<String>, String> {
    let list = DeviceList::get(lib)?;
    Ok(list.devices().map(|device| device.name()).collect())
}

fn info(lib: &'static Lib, device: Device<'_>) -> DeviceInfo {
    let name = device.name();
    let open = match OpenDevice::open(lib, &device) {
        Ok(open) => open,
        Err(error) => {
            return DeviceInfo {
                name: format!("{name} (cannot open: {error})"),
                transport: String::new(),
                fw_ver: String::new(),
                max_qp_wr: 0,
                max_qp_rd_atom: 0,
                ports: Vec::new(),
            }
        }
    };
    let attr = open.attributes();
    let fw_end = attr[..64].iter().position(|&b| b == 0).unwrap_or(64);
    DeviceInfo {
        name,
        transport: device.transport().into(),
        fw_ver: String::from_utf8_lossy(&attr[..fw_end]).into_owned(),
        max_qp_wr: u32_at(&attr, sys::DEV_MAX_QP_WR),
        max_qp_rd_atom: u32_at(&attr, sys::DEV_MAX_QP_RD_ATOM),
        ports: (1..=attr[sys::DEV_PHYS_PORT_CNT])
            .filter_map(|port| port_info(&open, port))
            .collect(),
    }
}

fn port_info(open: &OpenDevice, port: u8) -> Option<PortInfo> {
    let attr = open.port(port)?;
    let state = match u32_at(&attr, sys::PORT_STATE) {
        1 => "PORT_DOWN",
        2 => "PORT_INIT",
        3 => "PORT_ARMED",
        4 => "PORT_ACTIVE",
        5 => "PORT_ACTIVE_DEFER",
        _ => "PORT_NOP",
    };
    let link_layer = match attr[sys::PORT_LINK_LAYER] {
        sys::IBV_LINK_LAYER_ETHERNET => "Ethernet",
        sys::IBV_LINK_LAYER_INFINIBAND | 0 => "InfiniBand",
        _ => "unknown",
    };
    let active_mtu = match u32_at(&attr, sys::PORT_ACTIVE_MTU) {
        m @ 1..=5 => 128u32 << m,
        _ => 0,
    };
    let gid_len = (u32_at(&attr, sys::PORT_GID_TBL_LEN) as i32).clamp(0, 256);
    let gids = (0..gid_len)
        .filter_map(|index| {
            let gid = open.gid(port, index)?;
            let text = gid
                .chunks(2)
                .map(|p| format!("{:02x}{:02x}", p[0], p[1]))
                .collect::<Vec<_>>()
                .join(":");
            Some((index as u32, text))
        })
        .collect();
    Some(PortInfo {
        number: port,
        state: state.into(),
        link_layer: link_layer.into(),
        active_mtu,
        lid: u16::from_ne_bytes([attr[sys::PORT_LID], attr[sys::PORT_LID + 1]]),
        gids,
    })
}

/// The native-endian `u32` at byte `at` of a queried attribute struct.
fn u32_at(attr: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(attr[at..at + 4].try_into().unwrap())
}

/// libibverbs' device list, freed on drop.
struct DeviceList {
    lib: &'static Lib,
    list: *mut *mut sys::ibv_device,
    count: usize,
}

impl DeviceList {
    fn get(lib: &'static Lib) -> Result<DeviceList, String> {
        let mut count: c_int = 0;
        // SAFETY: plain call; the list is owned by the value returned.
        let list = unsafe { (lib.ibv_get_device_list)(&mut count) };
        if list.is_null() {
            return Err(format!("ibv_get_device_list: {}", sys::errno_text()));
        }
        Ok(DeviceList {
            lib,
            list,
            count: count.max(0) as usize,
        })
    }

    fn devices(&self) -> impl Iterator<Item = Device<'_>> {
        // SAFETY: `count` entries, valid while the list lives (borrowed by each Device).
        (0..self.count).map(|i| Device {
            lib: self.lib,
            device: unsafe { *self.list.add(i) },
            _list: self,
        })
    }
}

impl Drop for DeviceList {
    fn drop(&mut self) {
        // SAFETY: the list from ibv_get_device_list; devices borrowed from it are gone.
        unsafe { (self.lib.ibv_free_device_list)(self.list) };
    }
}

/// One entry of a [`DeviceList`], valid while the list lives.
struct Device<'a> {
    lib: &'static Lib,
    device: *mut sys::ibv_device,
    _list: &'a DeviceList,
}

impl Device<'_> {
    fn name(&self) -> String {
        // SAFETY: a device of a live list.
        sys::cstr(unsafe { (self.lib.ibv_get_device_name)(self.device) })
    }

    fn transport(&self) -> &'static str {
        // SAFETY: a device of a live list; the field is read only.
        match unsafe { (*self.device).transport_type } {
            0 => "InfiniBand",
            sys::IBV_TRANSPORT_IWARP => "iWARP",
            _ => "other",
        }
    }
}

/// An opened device, closed on drop.
struct OpenDevice {
    lib: &'static Lib,
    context: *mut sys::ibv_context,
}

impl OpenDevice {
    fn open(lib: &'static Lib, device: &Device<'_>) -> Result<OpenDevice, String> {
        // SAFETY: a device of a live list; the context is owned by the value returned.
        let context = unsafe { (lib.ibv_open_device)(device.device) };
        if context.is_null() {
            return Err(sys::errno_text());
        }
        Ok(OpenDevice { lib, context })
    }

    /// `struct ibv_device_attr`, read at the offsets `sys` names.
    fn attributes(&self) -> [u8; sys::DEVICE_ATTR_SIZE] {
        let mut attr = [0u8; sys::DEVICE_ATTR_SIZE];
        // SAFETY: an open context; the buffer is larger than the C struct.
        unsafe { (self.lib.ibv_query_device)(self.context, attr.as_mut_ptr()) };
        attr
    }

    /// `struct ibv_port_attr` of `port`, if it answers.
    fn port(&self, port: u8) -> Option<[u8; sys::PORT_ATTR_SIZE]> {
        let mut attr = [0u8; sys::PORT_ATTR_SIZE];
        // SAFETY: an open context; the buffer is larger than the C struct.
        let rc = unsafe { (self.lib.ibv_query_port)(self.context, port, attr.as_mut_ptr()) };
        (rc == 0).then_some(attr)
    }

    /// GID `index` of `port`, unless unset (all zero) or the query fails.
    fn gid(&self, port: u8, index: i32) -> Option<[u8; 16]> {
        let mut gid = [0u8; 16];
        // SAFETY: an open context; a 16-byte GID buffer.
        let rc = unsafe { (self.lib.ibv_query_gid)(self.context, port, index, &mut gid) };
        (rc == 0 && gid.iter().any(|&b| b != 0)).then_some(gid)
    }
}

impl Drop for OpenDevice {
    fn drop(&mut self) {
        // SAFETY: opened by `open`, closed once.
        unsafe { (self.lib.ibv_close_device)(self.context) };
    }
}
