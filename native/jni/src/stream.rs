//! `io.ferry.Native` stream entry points: a stream handle owns a boxed
//! `ferry_core::stream::Stream` (sans-IO) and, once both ends agreed on READs,
//! the `RemoteIo` that drives it over the socket's descriptor. Until then Java's
//! `FerryStream` does the socket I/O and passes control bytes through direct
//! ByteBuffers; framed and inline payload never crosses JNI.

use std::net::IpAddr;

use ferry_core::stream::remote::{RemoteReceiver, RemoteSender};
use ferry_core::stream::socket::{ControlSocket, Fd, RemoteIo};
use ferry_core::stream::{self, Stream};
use ferry_core::Error;
use jni::objects::ReleaseMode;
use jni::objects::{JByteArray, JByteBuffer, JClass, JIntArray, JObject, JObjectArray, JString};
use jni::sys::{jboolean, jbyteArray, jint, jlong, jlongArray};
use jni::JNIEnv;

use crate::errors::{guard, Failure, JniResult};
use crate::handle::{borrow, free, into_handle};
use crate::node::shared_node;

/// How long freeing a remote stream waits for the peer to READ what was written.
const FINISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

struct StreamHandle {
    stream: Stream,
    remote: Option<RemoteIo<Fd>>,
}

fn handle<'a>(handle: jlong) -> JniResult<&'a mut StreamHandle> {
    // SAFETY: stream handles come from streamCreate; Java's FerryStream
    // synchronizes every call on the stream and frees it once.
    unsafe { borrow::<StreamHandle>(handle, "stream") }
}

fn stream<'a>(h: jlong) -> JniResult<&'a mut Stream> {
    handle(h).map(|h| &mut h.stream)
}

/// The stream and its remote driver, once started.
fn remote<'a>(h: jlong) -> JniResult<(&'a mut Stream, &'a mut RemoteIo<Fd>)> {
    let h = handle(h)?;
    match h.remote.as_mut() {
        Some(io) => Ok((&mut h.stream, io)),
        None => Err(Failure::Argument(
            "the stream does not move payload by READ".into(),
        )),
    }
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
    // for the call and does not touch concurrently (FerryStream is synchronized).
    Ok(unsafe { std::slice::from_raw_parts_mut(base.add(pos as usize), len as usize) })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamCreate<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    server: jboolean,
    secret: JByteArray<'local>,
    max_frame: jint,
    framed: jboolean,
    remote_port: jint,
) -> jlong {
    guard(&mut env, 0, |env| {
        let secret = env.convert_byte_array(&secret)?;
        let max_frame = u32::try_from(max_frame)
            .map_err(|_| Failure::Argument(format!("negative frame size {max_frame}")))?;
        // A port of -1: this end offers no READs.
        let port = u16::try_from(remote_port).ok();
        let stream = match (server != 0, port) {
            (true, Some(port)) => Stream::server_remote(&secret, max_frame, port)?,
            (true, None) => Stream::server(&secret, max_frame)?,
            (false, Some(port)) => Stream::client_remote(&secret, max_frame, port)?,
            (false, None) => Stream::client(&secret, max_frame, framed != 0)?,
        };
        Ok(into_handle(StreamHandle {
            stream,
            remote: None,
        }))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamFree<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle_: jlong,
) {
    guard(&mut env, (), |_| {
        if let Ok(StreamHandle {
            stream,
            remote: Some(io),
        }) = handle(handle_)
        {
            // The peer may still be READing what was written: keep the slabs until it has.
            let _ = io.finish(stream, FINISH_TIMEOUT);
        }
        // SAFETY: FerryStream frees each handle once, after its last use.
        unsafe { free::<StreamHandle>(handle_) };
        Ok(())
    })
}

/// `long[] {state, wanted, data pending, output length, framed, peer node port or -1}`,
/// one call for the I/O loop.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamStatus<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    status: jni::objects::JLongArray<'local>,
) {
    guard(&mut env, (), |env| {
        let s = stream(handle)?;
        let values = [
            s.state() as jlong,
            s.wanted() as jlong,
            s.data_pending() as jlong,
            s.output().len() as jlong,
            s.framed() as jlong,
            s.remote_peer_port().map_or(-1, jlong::from),
        ];
        env.set_long_array_region(&status, 0, &values)?;
        Ok(())
    })
}

/// Feeds control bytes `buffer[pos..pos+len]`; returns how many were used.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamInput<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    buffer: JByteBuffer<'local>,
    pos: jint,
    len: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        let bytes = direct(env, &buffer, pos, len)?;
        Ok(stream(handle)?.input(bytes)? as jint)
    })
}

/// Copies up to `len` bytes of pending output into `buffer[pos..]` and counts them as sent.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamOutput<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    buffer: JByteBuffer<'local>,
    pos: jint,
    len: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        let dst = direct(env, &buffer, pos, len)?;
        let s = stream(handle)?;
        let n = s.output().len().min(dst.len());
        dst[..n].copy_from_slice(&s.output()[..n]);
        s.sent(n);
        Ok(n as jint)
    })
}

/// The caller read `n` payload bytes; returns the bytes of the frame still pending.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamDataRead<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    n: jlong,
) -> jlong {
    guard(&mut env, 0, |_| {
        let n = u64::try_from(n).map_err(|_| Failure::Argument(format!("negative count {n}")))?;
        Ok(stream(handle)?.data_read(n)? as jlong)
    })
}

/// Queues the header of a DATA frame of `len` bytes.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamSendData<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    len: jint,
) {
    guard(&mut env, (), |_| {
        let len = u32::try_from(len)
            .map_err(|_| Failure::Ferry(Error::InvalidArgument(format!("DATA of {len} bytes"))))?;
        Ok(stream(handle)?.send_data(len)?)
    })
}

/// (Unframed streams) counts `n` application bytes written straight to the socket.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamSentInline<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    n: jlong,
) {
    guard(&mut env, (), |_| {
        let n = u64::try_from(n).map_err(|_| Failure::Argument(format!("negative count {n}")))?;
        Ok(stream(handle)?.sent_inline(n)?)
    })
}

/// Queues CLOSE.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamShutdown<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    guard(&mut env, (), |_| {
        stream(handle)?.close();
        Ok(())
    })
}

/// The bytes an accepting stream read before it found the peer plain.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamPrefix<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let prefix = stream(handle)?.prefix().to_vec();
        Ok(env.byte_array_from_slice(&prefix)?.into_raw())
    })
}

/// Process-wide counters: opened, plain, failed, bytes sent, bytes received, frames sent.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamCounters<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jlongArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let c = stream::counters();
        let values = [
            c.opened,
            c.plain,
            c.failed,
            c.bytes_sent,
            c.bytes_received,
            c.frames_sent,
            c.notified_bytes,
            c.read_bytes,
            c.slab_bytes,
        ]
        .map(|v| v as jlong);
        let array = env.new_long_array(values.len() as i32)?;
        env.set_long_array_region(&array, 0, &values)?;
        Ok(array.into_raw())
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

/// Starts moving payload by READ: the stream is open and agreed on READs, and
/// every handshake byte is sent. `peer_ip` is the socket's peer; its node serves
/// on the port the handshake named.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamRemoteStart<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle_: jlong,
    node: jlong,
    fd: jint,
    peer_ip: JString<'local>,
    window: jlong,
    slab_bytes: jint,
    min_read: jint,
    per_connection: jint,
) {
    guard(&mut env, (), |env| {
        let peer_ip: String = env.get_string(&peer_ip)?.into();
        let ip: IpAddr = peer_ip
            .parse()
            .map_err(|_| Failure::Argument(format!("not an IP address: `{peer_ip}`")))?;
        let h = handle(handle_)?;
        let port = h
            .stream
            .remote_peer_port()
            .ok_or_else(|| Failure::Argument("the handshake did not agree on READs".into()))?;
        let (window, slab_bytes, min_read) = (
            u64::try_from(window).unwrap_or(0),
            usize::try_from(slab_bytes).unwrap_or(0),
            usize::try_from(min_read).unwrap_or(0),
        );
        let node = shared_node(node)?;
        let sender = RemoteSender::new(node.clone(), window, slab_bytes)?;
        let per_connection = u32::try_from(per_connection).unwrap_or(1);
        let receiver = RemoteReceiver::new(node, (ip, port).into(), per_connection);
        h.remote = Some(RemoteIo::new(Fd(fd), sender, receiver, min_read));
        Ok(())
    })
}

/// Reads payload into `direct[offset..offset + length]` or, when it is null,
/// `array[offset..offset + length]`; returns the bytes read, 0 when none wait,
/// -1 at the end of the stream. May wait for a READ (at most the node's request
/// timeout), never for the socket.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamRemoteRead<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle_: jlong,
    direct_buffer: JByteBuffer<'local>,
    array: JByteArray<'local>,
    offset: jint,
    length: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        let (stream, io) = remote(handle_)?;
        let capacity = usize::try_from(length).unwrap_or(0);
        let got = if direct_buffer.is_null() {
            let mut at = offset;
            io.read(stream, capacity, &mut |bytes| {
                // SAFETY: i8 and u8 share a layout.
                let signed = unsafe { &*(bytes as *const [u8] as *const [i8]) };
                env.set_byte_array_region(&array, at, signed)
                    .map_err(|e| Error::Internal(format!("copying into a byte[]: {e}")))?;
                at += bytes.len() as jint;
                Ok(())
            })?
        } else {
            let dst = direct(env, &direct_buffer, offset, length)?;
            let mut at = 0;
            io.read(stream, capacity, &mut |bytes| {
                dst[at..at + bytes.len()].copy_from_slice(bytes);
                at += bytes.len();
                Ok(())
            })?
        };
        Ok(got.map_or(-1, |n| n as jint))
    })
}

/// Writes payload from buffers `i`: `directs[i]` when not null, else
/// `arrays[i]`, `lengths[i]` bytes from `offsets[i]`; returns the bytes taken
/// (0 when the socket takes nothing now). Never waits.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamRemoteWrite<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle_: jlong,
    directs: JObjectArray<'local>,
    arrays: JObjectArray<'local>,
    offsets: JIntArray<'local>,
    lengths: JIntArray<'local>,
) -> jlong {
    guard(&mut env, 0, |env| {
        let (stream, io) = remote(handle_)?;
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
                let len = env.get_array_length(&array)?;
                if offs[i] < 0
                    || lens[i] < 0
                    || offs[i].checked_add(lens[i]).is_none_or(|end| end > len)
                {
                    return Err(Failure::Argument(format!(
                        "range {}+{} outside a byte[{len}]",
                        offs[i], lens[i]
                    )));
                }
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
        let n = io.write(stream, &parts)?;
        drop(parts);
        drop(pinned);
        Ok(n as jlong)
    })
}

/// Waits up to `timeout_ms` for the socket to become readable (or writable):
/// how a blocking channel waits between non-blocking remote calls.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamRemoteWait<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle_: jlong,
    writable: jboolean,
    timeout_ms: jint,
) -> jboolean {
    guard(&mut env, 0, |_| {
        let (_, io) = remote(handle_)?;
        let ready = io
            .socket()
            .wait(writable != 0, timeout_ms)
            .map_err(Error::from)?;
        Ok(ready as jboolean)
    })
}
