//! `io.ferry.Native` fetch entry points. A fetch handle owns a boxed
//! `ferry_core::Fetch`; a chunk handle owns its part of the pooled buffer a
//! direct ByteBuffer points into, until Java releases it.

use ferry_core::fetch::abi::*;
use ferry_core::{BufferPool, BufferSlice, Chunk, Fetch};
use jni::objects::{JByteArray, JClass, JIntArray, JLongArray, JObject, JObjectArray, JString};
use jni::sys::{jlong, jobject};
use jni::JNIEnv;

use crate::errors::{guard, new_exception};
use crate::handle::{borrow, free, into_handle};
use crate::node::{node, socket_addr};

/// Starts a fetch: `peers[i]` serves the next `counts[i]` ids of `ids`.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_fetchStart<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    peers: JObjectArray<'local>,
    counts: JIntArray<'local>,
    ids: JObjectArray<'local>,
) -> jlong {
    guard(&mut env, 0, |env| {
        let peer_count = env.get_array_length(&peers)?;
        let mut per_peer = vec![0i32; peer_count as usize];
        env.get_int_array_region(&counts, 0, &mut per_peer)?;
        let mut next_id = 0;
        let mut requests = Vec::with_capacity(per_peer.len());
        for (i, &count) in per_peer.iter().enumerate() {
            let peer = JString::from(env.get_object_array_element(&peers, i as i32)?);
            let address: String = env.get_string(&peer)?.into();
            let mut block_ids = Vec::with_capacity(count.max(0) as usize);
            for _ in 0..count {
                let id = JByteArray::from(env.get_object_array_element(&ids, next_id)?);
                block_ids.push(env.convert_byte_array(&id)?);
                env.delete_local_ref(id)?;
                next_id += 1;
            }
            requests.push((socket_addr(&address)?, block_ids));
        }
        Ok(into_handle(node(handle)?.fetch(requests)))
    })
}

/// The next results: null at the end; `chunk_marker` for chunks (`meta[0]` =
/// how many, then each one's fields at the positions of `ferry_core::fetch::abi`,
/// as many as `meta` holds and are already received: one call per batch, not
/// per chunk); or, for a block that failed, an exception object (with
/// `meta[0]` = block). Chunks allocate nothing on the Java heap here: Java
/// views each pool buffer once ([`Java_io_ferry_Native_bufferView`]).
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_fetchNext<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    meta: JLongArray<'local>,
    chunk_marker: JObject<'local>,
) -> jobject {
    guard(&mut env, std::ptr::null_mut(), |env| {
        // SAFETY: FetchStream synchronizes fetchNext and fetchClose.
        let fetch = unsafe { borrow::<Fetch>(handle, "fetch")? };
        let room = (env.get_array_length(&meta)? as usize).saturating_sub(1) / CHUNK_FIELDS;
        let result: JObject = match fetch.next() {
            None => JObject::null(),
            Some(Ok(first)) => {
                let mut values = vec![0 as jlong];
                let mut chunk = Some(first);
                while let Some(next) = chunk.take() {
                    write_chunk(next, &mut values);
                    if values.len() / CHUNK_FIELDS < room {
                        chunk = fetch.next_ready_chunk();
                    }
                }
                let count = values.len() / CHUNK_FIELDS;
                values[0] = count as jlong;
                if let Err(e) = env.set_long_array_region(&meta, 0, &values) {
                    for i in 0..count {
                        // SAFETY: Java never saw these handles.
                        unsafe { free::<BufferSlice>(values[1 + i * CHUNK_FIELDS + CHUNK_HANDLE]) };
                    }
                    return Err(e.into());
                }
                chunk_marker
            }
            Some(Err(failure)) => {
                env.set_long_array_region(&meta, 0, &[failure.block as jlong])?;
                new_exception(env, &failure.error)?
            }
        };
        Ok(result.into_raw())
    })
}

/// Appends a chunk's fields; its buffer part now belongs to the handle among them.
fn write_chunk(chunk: Chunk, values: &mut Vec<jlong>) {
    let Chunk {
        block,
        offset,
        block_len,
        data,
    } = chunk;
    let mut fields = [0 as jlong; CHUNK_FIELDS];
    fields[CHUNK_BLOCK] = block as jlong;
    fields[CHUNK_OFFSET] = offset as jlong;
    fields[CHUNK_BLOCK_LENGTH] = block_len as jlong;
    let place = data.pool_buffer();
    fields[CHUNK_BUFFER_ADDRESS] = place.base as jlong;
    fields[CHUNK_LENGTH] = data.len() as jlong;
    fields[CHUNK_START] = place.start as jlong;
    fields[CHUNK_HANDLE] = into_handle(data);
    values.extend_from_slice(&fields);
}

/// A direct ByteBuffer over the whole pool buffer of a chunk. Pool buffers keep
/// their address for the pool's life, so Java makes this view once per buffer
/// and slices it; it holds a [`Java_io_ferry_Native_poolShare`] for as long as
/// the view is reachable, so the memory stays mapped under every view.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_bufferView<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    chunk: jlong,
) -> jobject {
    guard(&mut env, std::ptr::null_mut(), |env| {
        // SAFETY: a live chunk handle, used by the thread that pulled it.
        let place = unsafe { borrow::<BufferSlice>(chunk, "chunk")? }.pool_buffer();
        // SAFETY: the pool buffer's memory; Java keeps a share of the pool
        // (so the mapping) while the view is reachable.
        let view = unsafe { env.new_direct_byte_buffer(place.base as *mut u8, place.size)? };
        Ok(view.into_raw())
    })
}

/// A share of a chunk's pool, which keeps the pool's memory mapped until
/// [`Java_io_ferry_Native_poolShareFree`].
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_poolShare<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    chunk: jlong,
) -> jlong {
    guard(&mut env, 0, |_| {
        // SAFETY: a live chunk handle, used by the thread that pulled it.
        let data = unsafe { borrow::<BufferSlice>(chunk, "chunk")? };
        Ok(into_handle(data.pool()))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_poolShareFree<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    share: jlong,
) {
    // SAFETY: freed once, by the Cleaner of the view that held it.
    guard(&mut env, (), |_| {
        unsafe { free::<BufferPool>(share) };
        Ok(())
    })
}

/// Releases a chunk's part of its buffer (the buffer returns to the pool with its
/// last part); its ByteBuffer must not be used after.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_chunkRelease<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    chunk: jlong,
) {
    // SAFETY: FetchedChunk.close releases its handle once (an atomic swap to 0).
    guard(&mut env, (), |_| {
        unsafe { free::<BufferSlice>(chunk) };
        Ok(())
    })
}

/// Ends a fetch; READs still in flight finish in the background and free their buffers.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_fetchClose<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    // SAFETY: FetchStream closes through a Cleaner, once, synchronized with fetchNext.
    guard(&mut env, (), |_| {
        unsafe { free::<Fetch>(handle) };
        Ok(())
    })
}
