//! JNI surface of Ferry, loaded by `io.ferry.NativeLibrary` (module `jvm/core`).
//!
//! Every entry point runs its body through [`guard`], so a Rust error or panic becomes a
//! thrown `io.ferry.FerryException` and never unwinds into the JVM.

use std::any::Any;
use std::error::Error;
use std::panic::{self, AssertUnwindSafe};

use jni::objects::JClass;
use jni::sys::jstring;
use jni::JNIEnv;

/// Java class thrown for every error and panic raised in native code.
const FERRY_EXCEPTION: &str = "io/ferry/FerryException";

/// What an entry point's body returns; any error becomes a `FerryException`.
type JniResult<T> = Result<T, Box<dyn Error>>;

/// Runs `f`, turning an `Err` or a panic into a thrown `FerryException` and returning `default`
/// in that case (the JVM ignores the return value while an exception is pending).
///
/// A Java exception already pending (for example raised by a failed JNI call inside `f`) is left
/// in place rather than replaced.
fn guard<'local, T>(
    env: &mut JNIEnv<'local>,
    default: T,
    f: impl FnOnce(&mut JNIEnv<'local>) -> JniResult<T>,
) -> T {
    let message = match panic::catch_unwind(AssertUnwindSafe(|| f(env))) {
        Ok(Ok(value)) => return value,
        Ok(Err(err)) => err.to_string(),
        Err(payload) => {
            let message = format!("panic in native code: {}", panic_message(&*payload));
            log::error!("{message}");
            message
        }
    };
    if !env.exception_check().unwrap_or(false) && env.throw_new(FERRY_EXCEPTION, &message).is_err()
    {
        log::error!("could not throw {FERRY_EXCEPTION}: {message}");
    }
    default
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)")
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

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_message_reads_str_and_string_payloads() {
        let literal = std::panic::catch_unwind(|| panic!("literal")).unwrap_err();
        assert_eq!(panic_message(&*literal), "literal");
        let formatted = std::panic::catch_unwind(|| panic!("formatted {}", 42)).unwrap_err();
        assert_eq!(panic_message(&*formatted), "formatted 42");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7_u32)).unwrap_err();
        assert_eq!(panic_message(&*other), "(non-string panic payload)");
    }
}
