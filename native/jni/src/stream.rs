//! `io.ferry.Native` stream entry points: a stream handle owns a boxed
//! `ferry_core::stream::Stream` (sans-IO). Java's `FerryStream` does the socket
//! I/O and passes control bytes through direct ByteBuffers; payload never
//! crosses JNI.

use ferry_core::stream::{self, Stream};
use ferry_core::Error;
use jni::objects::{JByteArray, JByteBuffer, JClass};
use jni::sys::{jboolean, jbyteArray, jint, jlong, jlongArray};
use jni::JNIEnv;

use crate::errors::{guard, Failure, JniResult};
use crate::handle::{borrow, free, into_handle};

fn stream<'a>(handle: jlong) -> JniResult<&'a mut Stream> {
    // SAFETY: stream handles come from streamCreate; Java's FerryStream
    // synchronizes every call on the stream and frees it once.
    unsafe { borrow::<Stream>(handle, "stream") }
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
) -> jlong {
    guard(&mut env, 0, |env| {
        let secret = env.convert_byte_array(&secret)?;
        let max_frame = u32::try_from(max_frame)
            .map_err(|_| Failure::Argument(format!("negative frame size {max_frame}")))?;
        let stream = if server != 0 {
            Stream::server(&secret, max_frame)?
        } else {
            Stream::client(&secret, max_frame, framed != 0)?
        };
        Ok(into_handle(stream))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_streamFree<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    guard(&mut env, (), |_| {
        // SAFETY: FerryStream frees each handle once, after its last use.
        unsafe { free::<Stream>(handle) };
        Ok(())
    })
}

/// `long[] {state, wanted, data pending, output length, framed}`, one call for the I/O loop.
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
        ]
        .map(|v| v as jlong);
        let array = env.new_long_array(values.len() as i32)?;
        env.set_long_array_region(&array, 0, &values)?;
        Ok(array.into_raw())
    })
}
