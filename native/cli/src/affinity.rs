//! Pinning the calling thread to one CPU, for `ferry bench`'s single-CPU
//! latency figures. Threads and processes started while pinned inherit it.

use std::io;
use std::mem;

/// The calling thread's previous CPU set, restored on drop.
pub struct Pinned {
    saved: libc::cpu_set_t,
    pub cpu: usize,
}

/// Pins the calling thread to the lowest CPU it may run on.
pub fn pin_to_one_cpu() -> io::Result<Pinned> {
    // SAFETY: cpu_set_t is plain data; the calls get its exact size.
    unsafe {
        let mut saved: libc::cpu_set_t = mem::zeroed();
        if libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut saved) != 0 {
            return Err(io::Error::last_os_error());
        }
        let cpu = (0..libc::CPU_SETSIZE as usize)
            .find(|&cpu| libc::CPU_ISSET(cpu, &saved))
            .ok_or_else(|| io::Error::other("no CPU in this thread's affinity mask"))?;
        let mut one: libc::cpu_set_t = mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pinned { saved, cpu })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: restores the set read in pin_to_one_cpu.
        unsafe {
            libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &self.saved);
        }
    }
}
