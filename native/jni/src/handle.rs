//! Native objects owned by Java through `long` handles: a handle is the
//! address of a boxed value, created once and freed once. The Java side keeps
//! each handle's uses from racing its release (a lock, or a synchronized
//! owner), and passes 0 for "none".

use jni::sys::jlong;

use crate::errors::{Failure, JniResult};

/// Moves `value` to the heap and hands its ownership to Java.
pub(crate) fn into_handle<T>(value: T) -> jlong {
    Box::into_raw(Box::new(value)) as jlong
}

/// The value behind a live handle; `what` names it in the error for 0.
///
/// # Safety
/// `handle` is 0 or came from [`into_handle::<T>`] and is not yet freed,
/// and no other thread uses it mutably meanwhile.
pub(crate) unsafe fn borrow<'a, T>(handle: jlong, what: &str) -> JniResult<&'a mut T> {
    if handle == 0 {
        return Err(Failure::Argument(format!("the {what} is closed")));
    }
    Ok(&mut *(handle as *mut T))
}

/// Takes ownership back and drops the value; 0 does nothing.
///
/// # Safety
/// As for [`borrow`], and the handle is never used again.
pub(crate) unsafe fn free<T>(handle: jlong) {
    if handle != 0 {
        drop(Box::from_raw(handle as *mut T));
    }
}
