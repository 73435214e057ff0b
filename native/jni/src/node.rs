//! `io.ferry.Native` node entry points. A node handle owns a boxed
//! `Arc<ferry_core::Node>` (remote streams share the node); the Java side
//! guarantees no call races `nodeClose`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use ferry_core::{Config, Error, Node, RegionId};
use jni::objects::{GlobalRef, JByteArray, JByteBuffer, JClass, JLongArray, JObjectArray, JString};
use jni::sys::{jboolean, jlong, jlongArray, jstring};
use jni::JNIEnv;

use crate::errors::{guard, Failure, JniResult};
use crate::handle::{borrow, free, into_handle};

/// The node behind a handle.
pub(crate) fn node<'a>(handle: jlong) -> JniResult<&'a Node> {
    // SAFETY: node handles come from nodeCreate; Java's FerryNode holds a read
    // lock around every call and the write lock around nodeClose. Node is Sync.
    unsafe { borrow::<Arc<Node>>(handle, "node").map(|node| &**node) }
}

/// A share of the node behind a handle, for what outlives the call (a remote stream).
pub(crate) fn shared_node(handle: jlong) -> JniResult<Arc<Node>> {
    // SAFETY: as for `node`.
    unsafe { borrow::<Arc<Node>>(handle, "node").map(|node| node.clone()) }
}

/// Resolves `host:port`.
pub(crate) fn socket_addr(text: &str) -> JniResult<SocketAddr> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| Failure::Argument(format!("cannot resolve address `{text}`")))
}

/// The strings of a Java array; `None` for a null element.
fn strings(env: &mut JNIEnv<'_>, array: &JObjectArray<'_>) -> JniResult<Vec<Option<String>>> {
    if array.is_null() {
        return Err(Failure::Argument("null settings".into()));
    }
    let len = env.get_array_length(array)?;
    (0..len)
        .map(|i| {
            let item = JString::from(env.get_object_array_element(array, i)?);
            if item.is_null() {
                return Ok(None);
            }
            let text: String = env.get_string(&item)?.into();
            env.delete_local_ref(item)?;
            Ok(Some(text))
        })
        .collect()
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeCreate<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    keys: JObjectArray<'local>,
    values: JObjectArray<'local>,
) -> jlong {
    guard(&mut env, 0, |env| {
        Ok(into_handle(Arc::new(Node::new(config(
            env, &keys, &values,
        )?)?)))
    })
}

/// Parses settings as `nodeCreate` does, without starting anything.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_configCheck<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    keys: JObjectArray<'local>,
    values: JObjectArray<'local>,
) {
    guard(&mut env, (), |env| {
        config(env, &keys, &values)?;
        Ok(())
    })
}

fn config(
    env: &mut JNIEnv<'_>,
    keys: &JObjectArray<'_>,
    values: &JObjectArray<'_>,
) -> JniResult<Config> {
    let keys = strings(env, keys)?;
    let values = strings(env, values)?;
    if keys.len() != values.len() {
        return Err(Failure::Argument("as many keys as values".into()));
    }
    let pairs = keys
        .into_iter()
        .zip(values)
        .map(|pair| match pair {
            (Some(key), Some(value)) => Ok((key, value)),
            (None, _) => Err(Failure::Argument("a null settings key".into())),
            (Some(key), None) => Err(Error::config(&key, "null value").into()),
        })
        .collect::<JniResult<Vec<_>>>()?;
    Ok(Config::from_pairs(pairs)?)
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeClose<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    // SAFETY: under FerryNode's write lock, once.
    guard(&mut env, (), |_| {
        unsafe { free::<Arc<Node>>(handle) };
        Ok(())
    })
}

/// Serves this node's blocks on `host:port`; returns the bound `host:port`.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeServe<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    address: JString<'local>,
) -> jstring {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let address: String = env.get_string(&address)?.into();
        let bound = node(handle)?.serve(socket_addr(&address)?)?;
        Ok(env.new_string(bound.to_string())?.into_raw())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeRegisterFile<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    path: JString<'local>,
    offset: jlong,
    length: jlong,
) -> jlong {
    guard(&mut env, 0, |env| {
        let path: String = env.get_string(&path)?.into();
        let (offset, length) = non_negative(offset, length)?;
        let region =
            node(handle)?
                .regions()
                .register_file(Path::new(&path), offset, Some(length))?;
        Ok(region.0 as jlong)
    })
}

/// Memory of a Java direct buffer, kept reachable while registered.
struct JavaBuffer {
    buffer: Option<GlobalRef>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the bytes belong to a direct buffer the global reference keeps alive;
// Java promises not to change them while they are registered.
unsafe impl Send for JavaBuffer {}
unsafe impl Sync for JavaBuffer {}

impl Drop for JavaBuffer {
    fn drop(&mut self) {
        // The last reference may go on an I/O thread: attach it, as releasing a
        // global reference needs the JVM.
        if let Some(vm) = crate::jvm() {
            let _ = vm.attach_current_thread_as_daemon();
        }
        self.buffer.take();
    }
}

impl AsRef<[u8]> for JavaBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: ptr/len describe the live direct buffer (see above).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Registers the remaining bytes of a direct buffer, without copying them.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeRegisterBuffer<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    buffer: JByteBuffer<'local>,
    position: jlong,
    length: jlong,
) -> jlong {
    guard(&mut env, 0, |env| {
        let base = env.get_direct_buffer_address(&buffer)?;
        let capacity = env.get_direct_buffer_capacity(&buffer)? as u64;
        let (position, length) = non_negative(position, length)?;
        if position
            .checked_add(length)
            .is_none_or(|end| end > capacity)
        {
            return Err(Failure::Argument("range outside the buffer".into()));
        }
        let bytes = JavaBuffer {
            buffer: Some(env.new_global_ref(&buffer)?),
            // SAFETY: position + length <= capacity, checked above.
            ptr: unsafe { base.add(position as usize) },
            len: length as usize,
        };
        Ok(node(handle)?.regions().register_bytes(bytes).0 as jlong)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeDeregister<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    region: jlong,
) -> jboolean {
    guard(&mut env, 0, |_| {
        Ok(node(handle)?.regions().deregister(RegionId(region as u64)) as jboolean)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeRegisterBlock<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    id: JByteArray<'local>,
    region: jlong,
    offset: jlong,
    length: jlong,
) {
    guard(&mut env, (), |env| {
        let id = env.convert_byte_array(&id)?;
        let (offset, length) = non_negative(offset, length)?;
        node(handle)?.register_region_block(id, RegionId(region as u64), offset, length)?;
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeRegisterSegmented<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    id: JByteArray<'local>,
    region: jlong,
    bounds: JLongArray<'local>,
) {
    guard(&mut env, (), |env| {
        let id = env.convert_byte_array(&id)?;
        let mut raw = vec![0; env.get_array_length(&bounds)? as usize];
        env.get_long_array_region(&bounds, 0, &mut raw)?;
        let bounds = raw
            .into_iter()
            .map(u64::try_from)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| Failure::Argument("segment bounds must not be negative".into()))?;
        ferry_core::stream::remote::check_not_reserved(&id)?;
        node(handle)?
            .blocks()
            .register_segmented(id, RegionId(region as u64), bounds)?;
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeRemoveBlock<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    id: JByteArray<'local>,
) -> jboolean {
    guard(&mut env, 0, |env| {
        let id = env.convert_byte_array(&id)?;
        Ok(node(handle)?.blocks().remove(&id) as jboolean)
    })
}

/// The transport the node runs on: "tcp" or "verbs".
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeProvider<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jstring {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let name = node(handle)?.provider_name();
        Ok(env.new_string(name)?.into_raw())
    })
}

/// Pool and traffic counters, at the positions `ferry_core::metrics::abi` names.
#[no_mangle]
pub extern "system" fn Java_io_ferry_Native_nodeStats<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jlongArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let node = node(handle)?;
        let values =
            ferry_core::metrics::counters(&node.pool_stats(), &node.metrics()).map(|v| v as jlong);
        let array = env.new_long_array(values.len() as i32)?;
        env.set_long_array_region(&array, 0, &values)?;
        Ok(array.into_raw())
    })
}

fn non_negative(offset: jlong, length: jlong) -> JniResult<(u64, u64)> {
    if offset < 0 || length < 0 {
        return Err(Failure::Argument(format!(
            "offset {offset} and length {length} must not be negative"
        )));
    }
    Ok((offset as u64, length as u64))
}
