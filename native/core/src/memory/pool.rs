//! A bounded pool of pinned, fixed-size buffers.
//!
//! Memory is mapped in slabs of `grow_bytes` (NetACC grows its registered memory
//! the same way), locked with mlock when the process may, and never beyond the
//! cap: asking for a buffer when all are out waits, then fails clearly. A buffer
//! returns to the pool when its [`PooledBuffer`] is dropped; slabs are unmapped
//! when the last buffer and the pool itself are gone.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use memmap2::MmapMut;

use crate::error::{Error, Result};

/// Counters describing the pool, for `ferry info`, metrics and leak tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub buffer_size: usize,
    pub capacity_bytes: usize,
    pub mapped_bytes: usize,
    pub locked_bytes: usize,
    pub in_use_bytes: usize,
}

#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    buffer_size: usize,
    max_buffers: usize,
    grow_buffers: usize,
    lock: bool,
    wait: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
    warned_lock: AtomicBool,
}

/// Called with the start and length of every slab the pool maps (a provider
/// registers them with its device, so READs can land in any buffer).
pub type SlabHook = Arc<dyn Fn(*mut u8, usize) + Send + Sync>;

struct PoolState {
    slabs: Vec<MmapMut>,
    hooks: Vec<SlabHook>,
    free: Vec<NonNull<u8>>,
    mapped_buffers: usize,
    locked_bytes: usize,
    /// Threads blocked in `acquire`; releases wake one only when there are any.
    waiters: usize,
}

// SAFETY: the raw pointers in `free` point into slabs owned by the same state and
// are handed out to exactly one PooledBuffer at a time.
unsafe impl Send for PoolState {}

impl BufferPool {
    pub fn new(
        buffer_size: usize,
        cap_bytes: usize,
        grow_bytes: usize,
        lock: bool,
        wait: Duration,
    ) -> Self {
        let max_buffers = (cap_bytes / buffer_size).max(1);
        BufferPool {
            inner: Arc::new(PoolInner {
                buffer_size,
                max_buffers,
                grow_buffers: (grow_bytes / buffer_size).clamp(1, max_buffers),
                lock,
                wait,
                state: Mutex::new(PoolState {
                    slabs: Vec::new(),
                    hooks: Vec::new(),
                    free: Vec::new(),
                    mapped_buffers: 0,
                    locked_bytes: 0,
                    waiters: 0,
                }),
                freed: Condvar::new(),
                warned_lock: AtomicBool::new(false),
            }),
        }
    }

    pub fn from_config(config: &crate::Config) -> Self {
        Self::new(
            config.buffer_size,
            config.pool_bytes,
            config.pool_grow_bytes,
            config.pool_lock,
            config.pool_wait,
        )
    }

    pub fn buffer_size(&self) -> usize {
        self.inner.buffer_size
    }

    /// Runs `hook` on every slab mapped so far and on each one mapped later.
    pub fn on_slab(&self, hook: SlabHook) {
        let mut state = self.inner.state.lock().unwrap();
        for slab in &mut state.slabs {
            hook(slab.as_mut_ptr(), slab.len());
        }
        state.hooks.push(hook);
    }

    /// A free buffer now, or `None` when all are out.
    pub fn try_acquire(&self) -> Result<Option<PooledBuffer>> {
        let mut state = self.inner.state.lock().unwrap();
        self.take(&mut state)
    }

    /// A free buffer, waiting up to the configured time for one to be released.
    pub fn acquire(&self) -> Result<PooledBuffer> {
        let deadline = Instant::now() + self.inner.wait;
        let mut state = self.inner.state.lock().unwrap();
        loop {
            if let Some(buffer) = self.take(&mut state)? {
                return Ok(buffer);
            }
            let now = Instant::now();
            if now >= deadline {
                let stats = self.stats_locked(&state);
                return Err(Error::PoolExhausted(format!(
                    "all {} buffers of {} bytes are in use (ferry.pool.bytes={}); \
                     release fetched buffers sooner or raise the cap",
                    self.inner.max_buffers, self.inner.buffer_size, stats.capacity_bytes
                )));
            }
            state.waiters += 1;
            state = self
                .inner
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
            state.waiters -= 1;
        }
    }

    pub fn stats(&self) -> PoolStats {
        self.stats_locked(&self.inner.state.lock().unwrap())
    }

    fn stats_locked(&self, state: &PoolState) -> PoolStats {
        let size = self.inner.buffer_size;
        PoolStats {
            buffer_size: size,
            capacity_bytes: self.inner.max_buffers * size,
            mapped_bytes: state.mapped_buffers * size,
            locked_bytes: state.locked_bytes,
            in_use_bytes: (state.mapped_buffers - state.free.len()) * size,
        }
    }

    fn take(&self, state: &mut PoolState) -> Result<Option<PooledBuffer>> {
        if state.free.is_empty() && state.mapped_buffers < self.inner.max_buffers {
            self.grow(state)?;
        }
        Ok(state.free.pop().map(|ptr| PooledBuffer {
            backing: Arc::new(Backing {
                pool: self.inner.clone(),
                ptr,
            }),
            start: 0,
            capacity: self.inner.buffer_size,
            len: 0,
        }))
    }

    fn grow(&self, state: &mut PoolState) -> Result<()> {
        let inner = &self.inner;
        let count = inner
            .grow_buffers
            .min(inner.max_buffers - state.mapped_buffers);
        let bytes = count * inner.buffer_size;
        let mut slab = MmapMut::map_anon(bytes).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot map {bytes} bytes of pinned buffers (ferry.pool.grow.bytes): {e}"),
            )
        })?;
        if inner.lock {
            match slab.lock() {
                Ok(()) => state.locked_bytes += bytes,
                Err(e) if !inner.warned_lock.swap(true, Ordering::Relaxed) => log::warn!(
                    "ferry: cannot mlock pinned buffers ({e}); continuing unlocked. \
                     Raise RLIMIT_MEMLOCK (ulimit -l) to pin them"
                ),
                Err(_) => {}
            }
        }
        let base = slab.as_mut_ptr();
        for i in (0..count).rev() {
            // SAFETY: i * buffer_size < bytes, inside the mapping just made.
            let ptr = unsafe { base.add(i * inner.buffer_size) };
            state
                .free
                .push(NonNull::new(ptr).expect("mmap never returns null"));
        }
        for hook in &state.hooks {
            hook(base, bytes);
        }
        state.slabs.push(slab);
        state.mapped_buffers += count;
        log::debug!(
            "ferry: pinned pool grew to {} bytes",
            state.mapped_buffers * inner.buffer_size
        );
        Ok(())
    }
}

/// A pool buffer's memory: back in the pool when the last [`PooledBuffer`]
/// carved from it is dropped.
struct Backing {
    pool: Arc<PoolInner>,
    ptr: NonNull<u8>,
}

// SAFETY: the pool buffer is handed out once (to this backing) until it
// returns to the pool; the PooledBuffers sharing it own disjoint ranges of it.
unsafe impl Send for Backing {}
unsafe impl Sync for Backing {}

impl Drop for Backing {
    fn drop(&mut self) {
        let mut state = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
        state.free.push(self.ptr);
        let wake = state.waiters > 0;
        drop(state);
        if wake {
            self.pool.freed.notify_one();
        }
    }
}

/// Where a buffer lies: bindings view each whole pool buffer once and slice it.
#[derive(Clone, Copy, Debug)]
pub struct PoolBufferPlace {
    /// The pool buffer's first byte.
    pub base: *const u8,
    /// The pool buffer's size.
    pub size: usize,
    /// Where the buffer starts in it.
    pub start: usize,
}

/// Pinned memory owned exclusively: a whole pool buffer, or a part of one
/// carved off with [`PooledBuffer::split_off`] (small READs share a buffer
/// instead of holding one each). Derefs to the filled part (`len`);
/// [`PooledBuffer::spare`] gives the whole capacity.
pub struct PooledBuffer {
    backing: Arc<Backing>,
    /// Where this buffer starts in its pool buffer.
    start: usize,
    capacity: usize,
    len: usize,
}

impl PooledBuffer {
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "length beyond buffer capacity");
        self.len = len;
    }

    /// The whole buffer, filled or not, for receiving into.
    pub fn spare(&mut self) -> &mut [u8] {
        // SAFETY: capacity bytes from as_ptr, owned by this buffer.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr() as *mut u8, self.capacity) }
    }

    /// Start of the buffer, for native consumers (JNI direct buffers, RDMA).
    pub fn as_ptr(&self) -> *const u8 {
        // SAFETY: start < the pool's buffer size, inside the pool buffer.
        unsafe { self.backing.ptr.as_ptr().add(self.start) }
    }

    /// Carves off the capacity from `at` on (rounded up to a cache line, so
    /// the two parts never share one) as a buffer of its own; this one keeps
    /// what lies before. Both keep the pool buffer out of the pool until the
    /// last of them is dropped. Empty when nothing is left past `at`.
    pub fn split_off(&mut self, at: usize) -> PooledBuffer {
        assert!(self.len <= at, "splitting off filled bytes");
        let at = at.next_multiple_of(CACHE_LINE).min(self.capacity);
        let rest = PooledBuffer {
            backing: self.backing.clone(),
            start: self.start + at,
            capacity: self.capacity - at,
            len: 0,
        };
        self.capacity = at;
        rest
    }

    /// The whole pool buffer this lies in and where this buffer starts in it.
    pub fn pool_buffer(&self) -> PoolBufferPlace {
        PoolBufferPlace {
            base: self.backing.ptr.as_ptr(),
            size: self.backing.pool.buffer_size,
            start: self.start,
        }
    }

    /// A share of the buffer's pool: its memory stays mapped while the share
    /// lives, even after the buffer and the node are gone (for views of the
    /// memory that outlive both, such as Java's direct buffers).
    pub fn pool(&self) -> BufferPool {
        BufferPool {
            inner: self.backing.pool.clone(),
        }
    }
}

/// Carved parts start on their own cache line.
const CACHE_LINE: usize = 64;

impl Deref for PooledBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: len <= capacity, memory owned by this buffer.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }
}

impl DerefMut for PooledBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr() as *mut u8, self.len) }
    }
}

impl std::fmt::Debug for PooledBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PooledBuffer({} of {})", self.len, self.capacity())
    }
}

/// A part of a filled buffer: one chunk of a READ (or lookup reply) that
/// carried several adjacent blocks. Parts share the buffer, which returns to
/// the pool when the last of them (and of the buffers carved beside it) is
/// dropped, so the pool's bound holds.
pub struct BufferSlice {
    buffer: Arc<PooledBuffer>,
    start: usize,
    len: usize,
}

impl BufferSlice {
    /// The buffer's filled bytes cut into consecutive parts of `lens`, which must sum to its length.
    pub fn split(
        buffer: PooledBuffer,
        lens: impl ExactSizeIterator<Item = usize>,
    ) -> Vec<BufferSlice> {
        let buffer = Arc::new(buffer);
        let mut start = 0;
        let parts: Vec<BufferSlice> = lens
            .map(|len| {
                let part = BufferSlice {
                    buffer: buffer.clone(),
                    start,
                    len,
                };
                start += len;
                part
            })
            .collect();
        assert_eq!(start, buffer.len(), "parts cover the filled buffer");
        parts
    }

    /// The whole pool buffer the part lies in and where the part starts in it.
    pub fn pool_buffer(&self) -> PoolBufferPlace {
        let place = self.buffer.pool_buffer();
        PoolBufferPlace {
            start: place.start + self.start,
            ..place
        }
    }

    /// A share of the part's pool (see [`PooledBuffer::pool`]).
    pub fn pool(&self) -> BufferPool {
        self.buffer.pool()
    }
}

impl From<PooledBuffer> for BufferSlice {
    fn from(buffer: PooledBuffer) -> Self {
        let len = buffer.len();
        BufferSlice {
            buffer: Arc::new(buffer),
            start: 0,
            len,
        }
    }
}

impl Deref for BufferSlice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buffer[self.start..self.start + self.len]
    }
}

impl std::fmt::Debug for BufferSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BufferSlice({} at {} of {:?})",
            self.len, self.start, self.buffer
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(cap: usize) -> BufferPool {
        BufferPool::new(4096, cap, 8192, true, Duration::from_millis(50))
    }

    #[test]
    fn grows_in_steps_up_to_the_cap() {
        let p = pool(4 * 4096);
        let a = p.acquire().unwrap();
        assert_eq!(p.stats().mapped_bytes, 8192);
        let b = p.acquire().unwrap();
        let c = p.acquire().unwrap();
        assert_eq!(p.stats().mapped_bytes, 16384);
        let d = p.acquire().unwrap();
        assert_eq!(p.stats().in_use_bytes, 16384);
        assert!(p.try_acquire().unwrap().is_none());
        drop((a, b, c, d));
        assert_eq!(p.stats().in_use_bytes, 0);
    }

    #[test]
    fn full_pool_fails_clearly_after_waiting() {
        let p = pool(4096);
        let _held = p.acquire().unwrap();
        let err = p.acquire().unwrap_err();
        assert!(matches!(err, Error::PoolExhausted(_)), "{err}");
        assert!(err.to_string().contains("ferry.pool.bytes"));
    }

    #[test]
    fn waiter_gets_a_released_buffer() {
        let p = BufferPool::new(4096, 4096, 4096, false, Duration::from_secs(5));
        let held = p.acquire().unwrap();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || p2.acquire().map(|b| b.capacity()));
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        assert_eq!(waiter.join().unwrap().unwrap(), 4096);
    }

    #[test]
    fn carved_parts_are_disjoint_and_free_the_buffer_together() {
        let p = pool(4096);
        let mut first = p.acquire().unwrap();
        let mut second = first.split_off(100);
        let third = second.split_off(1000);
        // Each part starts on its own cache line; together they cover the buffer.
        assert_eq!(first.capacity(), 128);
        assert_eq!(second.capacity(), 1024);
        assert_eq!(third.capacity(), 4096 - 128 - 1024);
        assert_eq!(second.as_ptr() as usize - first.as_ptr() as usize, 128);
        assert_eq!(second.pool_buffer().start, 128);
        first.spare().fill(1);
        second.spare().fill(2);
        assert!(first.spare().iter().all(|&b| b == 1));
        drop((first, second));
        assert_eq!(
            p.stats().in_use_bytes,
            4096,
            "a part still holds the buffer"
        );
        assert!(p.try_acquire().unwrap().is_none());
        drop(third);
        assert_eq!(p.stats().in_use_bytes, 0);
    }

    #[test]
    fn buffers_are_distinct_and_writable() {
        let p = pool(4 * 4096);
        let mut a = p.acquire().unwrap();
        let mut b = p.acquire().unwrap();
        a.spare().fill(1);
        b.spare().fill(2);
        a.set_len(4096);
        b.set_len(10);
        assert!(a.iter().all(|&x| x == 1));
        assert_eq!(&b[..], &[2u8; 10]);
    }
}
