//! JNI surface of Ferry, loaded by `io.ferry.NativeLibrary` (module `jvm/core`).
//!
//! Only the boundary lives here: handles are `long`s owning boxed native
//! objects, data crosses as direct ByteBuffers over native memory (no copies),
//! and every entry point runs through [`guard`], so a Rust error or panic
//! becomes a Java exception and never unwinds into the JVM.

mod errors;
mod fetch;
mod handle;
mod logging;
mod node;
mod stream;

use std::ffi::c_void;
use std::sync::OnceLock;

use jni::objects::JClass;
use jni::sys::{jint, jstring, JNI_VERSION_1_8};
use jni::{JNIEnv, JavaVM};

pub(crate) use errors::{guard, JniResult};

static JVM: OnceLock<JavaVM> = OnceLock::new();

/// The JVM that loaded this library.
pub(crate) fn jvm() -> Option<&'static JavaVM> {
    JVM.get()
}

/// Called by the JVM when the library loads: routes Rust `log` records to SLF4J.
#[no_mangle]
pub extern "system" fn JNI_OnLoad(vm: JavaVM, _reserved: *mut c_void) -> jint {
    if JVM.set(vm).is_ok() {
        logging::install();
    }
    JNI_VERSION_1_8
}

/// `static native String nativeVersion()`: the version of this crate.
#[no_mangle]
pub extern "system" fn Java_io_ferry_NativeLibrary_nativeVersion<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    guard(&mut env, std::ptr::null_mut(), |env| {
        Ok(env.new_string(env!("CARGO_PKG_VERSION"))?.into_raw())
    })
}

/// `static native void nativePanicForTest()`: panics on purpose, so tests can check that the
/// panic arrives in Java as a `FerryException` and the JVM keeps running.
#[no_mangle]
pub extern "system" fn Java_io_ferry_NativeLibrary_nativePanicForTest<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) {
    guard(&mut env, (), |_| -> JniResult<()> {
        panic!("deliberate panic from nativePanicForTest")
    })
}
