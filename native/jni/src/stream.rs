//! `io.ferry.Native` stream entry points: a stream handle owns a
//! `ferry_core::stream::Driver`, which does every byte of the stream's socket
//! I/O, never blocking. Java's `FerryStream` serializes the calls on one lock
//! and frees the handle once; status bits and counter positions are the named
//! constants of `ferry_core::stream::abi`.

use std::time::Instant;

use ferry_core::stream::{self, Driver, Fd, RemoteSettings, Settings};
use jni::objects::{
    JByteArray, JByteBuffer, JClass, JIntArray, JObject, JObjectArray, ReleaseMode,
};
use jni::sys::{jboolean, jint, jlong, jlongArray};
use jni::JNIEnv;

use crate::errors::{guard, Failure, JniResult};
use crate::handle::{borrow, free, into_handle};
use crate::node::shared_node;

fn driver<'a>(handle: jlong) -> JniResult<&'a mut Driver<Fd>> {
    // SAFETY: stream handles come from streamCreate; Java's FerryStream
    // serializes every call on the stream and frees it once.
    unsafe { borrow::<Driver<Fd>>(handle, "stream") }
}

/// `len` bytes of a direct buffer from `pos`, bounds-checked against its capacity.
fn direct<'a>(
    env: &JNIEnv<'_>,
    buffer: &JByteBuffer<'_>,
    pos: jint,
    len: jint,
) -> JniResult<&'a mut [u8]> {
    let base = env.get_direct_buffer_address(buffer)?;
    let capacity = env.get_direct_buffer_capacity(buffer)?;
    if pos < 0 || len < 0 || pos as usize + len as usize > capacity {
        return Err(Failure::Argument(format!(
            "range {pos}+{len} outside a buffer of {capacity} bytes"
        )));
    }
    // SAFETY: the range lies inside the direct buffer, which Java keeps alive
    // for the call and does not touch concurrently (FerryStream holds its lock).
    Ok(unsafe { std::slice::from_raw_parts_mut(base.add(pos as usize), len as usize) })
}

/// Checks `offset + length` against a byte[]'s length.
fn check_array(
    env: &JNIEnv<'_>,
    array: &JByteArray<'_>,
    offset: jint,
    length: jint,
) -> JniResult<()> {
    let len = env.get_array_length(array)?;
    if offset < 0 || length < 0 || offset.checked_add(length).is_none_or(|end| end > len) {
        return Err(Failure::Argument(format!(
            "range {offset}+{length} outside a byte[{len}]"
        )));
    }
    Ok(())
}

fn non_negative(value: i64, what: &str) -> JniResult<u64> {
    u64::try_from(value).map_err(|_| Failure::Argument(format!("negative {what} {value}")))
}

/// A stream over the connected socket `fd`. `node` 0: this end offers no
/// READs; else it offers them with that node, serving on `port`.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamCreate<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    server: jboolean,
    secret: JByteArray<'local>,
    max_frame: jint,
    framed: jboolean,
    fd: jint,
    node: jlong,
    port: jint,
    window: jlong,
    slab_bytes: jint,
    min_read: jint,
    per_connection: jint,
) -> jlong {
    guard(&mut env, 0, |env| {
        let remote = match node {
            0 => None,
            node => Some(RemoteSettings {
                node: shared_node(node)?,
                port: u16::try_from(port)
                    .map_err(|_| Failure::Argument(format!("node port {port}")))?,
                window: non_negative(window, "window")?,
                slab_bytes: non_negative(slab_bytes.into(), "slab size")? as usize,
                min_read: non_negative(min_read.into(), "smallest READ")? as usize,
                per_connection: non_negative(per_connection.into(), "streams per connection")?
                    as u32,
            }),
        };
        let settings = Settings {
            server: server != 0,
            secret: env.convert_byte_array(&secret)?,
            max_frame: non_negative(max_frame.into(), "frame size")? as u32,
            framed: framed != 0,
            remote,
        };
        if fd < 0 {
            return Err(Failure::Argument(format!("socket descriptor {fd}")));
        }
        Ok(into_handle(Driver::new(Fd(fd), settings)?))
    })
}

/// Frees the stream; with `send_close` (the socket is still open) it first
/// queues CLOSE and sends what the socket takes now. Never waits.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamFree<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    send_close: jboolean,
) {
    guard(&mut env, (), |_| {
        if send_close != 0 {
            driver(handle)?.close();
        }
        // SAFETY: FerryStream frees each handle once, after its last use.
        unsafe { free::<Driver<Fd>>(handle) };
        Ok(())
    })
}

/// The `abi::STATUS_*` bits.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamStatus<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jint {
    guard(&mut env, 0, |_| Ok(driver(handle)?.status()))
}

/// The stream's counters at the `abi::STAT_*` positions; handle 0: the process's.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamStats<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jlongArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let stats = match handle {
            0 => stream::counters(),
            handle => driver(handle)?.stats(),
        };
        let values = stats.0.map(|v| v as jlong);
        let array = env.new_long_array(values.len() as i32)?;
        env.set_long_array_region(&array, 0, &values)?;
        Ok(array.into_raw())
    })
}

/// Reads payload into `direct[offset..offset + length]` or, when it is null,
/// `array[offset..offset + length]`; returns the bytes read, 0 when none wait
/// now, -1 at the end of the stream. Never blocks.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamRead<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    direct_buffer: JByteBuffer<'local>,
    array: JByteArray<'local>,
    offset: jint,
    length: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        let d = driver(handle)?;
        let got = if direct_buffer.is_null() {
            check_array(env, &array, offset, length)?;
            // SAFETY: released (copied back) when `elements` drops; the read
            // makes no JNI call meanwhile.
            let mut elements =
                unsafe { env.get_array_elements_critical(&array, ReleaseMode::CopyBack)? };
            // SAFETY: i8 and u8 share a layout; the range was checked above.
            let all = unsafe {
                std::slice::from_raw_parts_mut(elements.as_mut_ptr() as *mut u8, elements.len())
            };
            d.read(
                &mut all[offset as usize..(offset + length) as usize],
                Instant::now(),
            )?
        } else {
            let dst = direct(env, &direct_buffer, offset, length)?;
            d.read(dst, Instant::now())?
        };
        Ok(got.map_or(-1, |n| n as jint))
    })
}

/// Writes payload from buffers `i`: `directs[i]` when not null, else
/// `arrays[i]`, `lengths[i]` bytes from `offsets[i]`; returns the bytes taken
/// (0 when the socket takes nothing now). Never blocks.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamWrite<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    directs: JObjectArray<'local>,
    arrays: JObjectArray<'local>,
    offsets: JIntArray<'local>,
    lengths: JIntArray<'local>,
) -> jlong {
    guard(&mut env, 0, |env| {
        let d = driver(handle)?;
        let count = env.get_array_length(&offsets)? as usize;
        let mut offs = vec![0; count];
        let mut lens = vec![0; count];
        env.get_int_array_region(&offsets, 0, &mut offs)?;
        env.get_int_array_region(&lengths, 0, &mut lens)?;
        // Resolve every buffer first: no JNI call may run inside the critical sections.
        let mut sources = Vec::with_capacity(count);
        for i in 0..count {
            let buffer = JByteBuffer::from(env.get_object_array_element(&directs, i as i32)?);
            if buffer.is_null() {
                let array = JByteArray::from(env.get_object_array_element(&arrays, i as i32)?);
                check_array(env, &array, offs[i], lens[i])?;
                sources.push(Err(array));
            } else {
                sources.push(Ok(direct(env, &buffer, offs[i], lens[i])? as &[u8]));
            }
        }
        let mut envs = Vec::new();
        for _ in sources.iter().filter(|s| s.is_err()) {
            // SAFETY: the clones live only in this call, on this thread.
            envs.push(unsafe { env.unsafe_clone() });
        }
        let mut next_env = envs.iter_mut();
        let mut pinned = Vec::new();
        for source in &sources {
            if let Err(array) = source {
                let env = next_env.next().expect("one per array");
                // SAFETY: released (without copying back) when `pinned` drops,
                // after the write, which makes no JNI call.
                pinned.push(unsafe {
                    env.get_array_elements_critical(array, ReleaseMode::NoCopyBack)?
                });
            }
        }
        let mut next_pinned = pinned.iter();
        let parts: Vec<&[u8]> = sources
            .iter()
            .enumerate()
            .map(|(i, source)| match source {
                Ok(slice) => *slice,
                Err(_) => {
                    let elements = next_pinned.next().expect("one per array");
                    // SAFETY: i8 and u8 share a layout; the range was checked above.
                    let all = unsafe {
                        std::slice::from_raw_parts(elements.as_ptr() as *const u8, elements.len())
                    };
                    &all[offs[i] as usize..(offs[i] + lens[i]) as usize]
                }
            })
            .collect();
        let n = d.write(&parts, Instant::now())?;
        drop(parts);
        drop(pinned);
        Ok(n as jlong)
    })
}

/// The descriptor of a JDK socket channel (`SelChImpl.getFDVal`; JNI is not
/// held back by module encapsulation), or -1 for a channel without one.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_socketFd<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    channel: JObject<'local>,
) -> jint {
    match env
        .call_method(&channel, "getFDVal", "()I", &[])
        .and_then(|v| v.i())
    {
        Ok(fd) => fd,
        Err(_) => {
            let _ = env.exception_clear();
            -1
        }
    }
}

/// Waits up to `timeout_ms` for the socket to become readable (or writable):
/// how a blocking channel waits between stream calls, outside the stream's lock.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_socketWait<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    fd: jint,
    writable: jboolean,
    timeout_ms: jint,
) -> jboolean {
    guard(&mut env, 0, |_| {
        let ready = Fd(fd)
            .wait(writable != 0, timeout_ms)
            .map_err(ferry_core::Error::from)?;
        Ok(ready as jboolean)
    })
}
