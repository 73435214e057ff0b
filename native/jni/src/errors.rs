//! Native failures as Java exceptions: each `ferry_core::Error` kind maps to a
//! subclass of `io.ferry.FerryException`, so callers can catch what they handle.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use ferry_core::Error;
use jni::objects::{JObject, JValue};
use jni::JNIEnv;

const FERRY_EXCEPTION: &str = "io/ferry/FerryException";

/// Why an entry point failed.
pub(crate) enum Failure {
    Ferry(Error),
    /// A JNI call failed; a Java exception may already be pending.
    Jni(jni::errors::Error),
    /// A bad argument from Java (a closed handle, a malformed address).
    Argument(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Ferry(e)
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

pub(crate) type JniResult<T> = Result<T, Failure>;

/// The Java class for a native error.
pub(crate) fn exception_class(error: &Error) -> &'static str {
    match error {
        Error::Config { .. } => "io/ferry/FerryConfigException",
        Error::AuthFailed(_) => "io/ferry/FerryAuthenticationException",
        Error::PoolExhausted(_) => "io/ferry/FerryPoolExhaustedException",
        Error::Timeout(_) => "io/ferry/FerryTimeoutException",
        Error::Remote { .. }
        | Error::PeerClosed { .. }
        | Error::Malformed(_)
        | Error::Busy(_)
        | Error::UnsupportedVersion(_) => "io/ferry/FerryPeerException",
        Error::InvalidArgument(_) => "java/lang/IllegalArgumentException",
        _ => FERRY_EXCEPTION,
    }
}

/// A new (not thrown) exception object for `error`, for results that carry failures.
pub(crate) fn new_exception<'local>(
    env: &mut JNIEnv<'local>,
    error: &Error,
) -> jni::errors::Result<JObject<'local>> {
    let message = env.new_string(error.to_string())?;
    env.new_object(
        exception_class(error),
        "(Ljava/lang/String;)V",
        &[JValue::Object(&message)],
    )
}

/// Runs `f`, turning a failure or a panic into a thrown exception and returning
/// `default` then (the JVM ignores the return value while an exception is pending).
/// A Java exception already pending is left in place rather than replaced.
pub(crate) fn guard<'local, T>(
    env: &mut JNIEnv<'local>,
    default: T,
    f: impl FnOnce(&mut JNIEnv<'local>) -> JniResult<T>,
) -> T {
    let (class, message) = match panic::catch_unwind(AssertUnwindSafe(|| f(env))) {
        Ok(Ok(value)) => return value,
        Ok(Err(Failure::Ferry(error))) => (exception_class(&error), error.to_string()),
        Ok(Err(Failure::Jni(error))) => (FERRY_EXCEPTION, format!("JNI call failed: {error}")),
        Ok(Err(Failure::Argument(message))) => ("java/lang/IllegalArgumentException", message),
        Err(payload) => {
            let message = format!("panic in native code: {}", panic_message(&*payload));
            log::error!("{message}");
            (FERRY_EXCEPTION, message)
        }
    };
    if !env.exception_check().unwrap_or(false) && env.throw_new(class, &message).is_err() {
        log::error!("could not throw {class}: {message}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_reads_str_and_string_payloads() {
        let literal = std::panic::catch_unwind(|| panic!("literal")).unwrap_err();
        assert_eq!(panic_message(&*literal), "literal");
        let formatted = std::panic::catch_unwind(|| panic!("formatted {}", 42)).unwrap_err();
        assert_eq!(panic_message(&*formatted), "formatted 42");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7_u32)).unwrap_err();
        assert_eq!(panic_message(&*other), "(non-string panic payload)");
    }

    #[test]
    fn errors_map_to_specific_classes() {
        let config = Error::config("ferry.x", "bad");
        assert_eq!(exception_class(&config), "io/ferry/FerryConfigException");
        let auth = Error::AuthFailed("wrong secret".into());
        assert_eq!(
            exception_class(&auth),
            "io/ferry/FerryAuthenticationException"
        );
        let lost = Error::PeerClosed {
            peer: "p".into(),
            reason: "r".into(),
        };
        assert_eq!(exception_class(&lost), "io/ferry/FerryPeerException");
    }
}
