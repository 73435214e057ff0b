//! Rust `log` records to SLF4J, through `io.ferry.NativeLog`. I/O threads are
//! attached to the JVM as daemons the first time they log.

use std::sync::OnceLock;

use jni::objects::{GlobalRef, JClass, JValue};
use log::{Level, LevelFilter, Log, Metadata, Record};

const NATIVE_LOG: &str = "io/ferry/NativeLog";

static NATIVE_LOG_CLASS: OnceLock<GlobalRef> = OnceLock::new();

pub(crate) fn install() {
    let Some(Ok(mut env)) = crate::jvm().map(|vm| vm.get_env()) else {
        return;
    };
    let Ok(class) = env
        .find_class(NATIVE_LOG)
        .and_then(|c| env.new_global_ref(c))
    else {
        let _ = env.exception_clear();
        return;
    };
    // SLF4J decides what is enabled; ask once so disabled records cost nothing here.
    let level = env
        .call_static_method(&class, "maxLevel", "()I", &[])
        .and_then(|v| v.i())
        .unwrap_or(3);
    let _ = env.exception_clear();
    if NATIVE_LOG_CLASS.set(class).is_ok() && log::set_logger(&Logger).is_ok() {
        log::set_max_level(match level {
            0 => LevelFilter::Off,
            1 => LevelFilter::Error,
            2 => LevelFilter::Warn,
            3 => LevelFilter::Info,
            4 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        });
    }
}

struct Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        let (Some(vm), Some(class)) = (crate::jvm(), NATIVE_LOG_CLASS.get()) else {
            return;
        };
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(mut env) = vm.attach_current_thread_as_daemon() else {
            return;
        };
        let level = match record.level() {
            Level::Error => 1,
            Level::Warn => 2,
            Level::Info => 3,
            Level::Debug => 4,
            Level::Trace => 5,
        };
        let _ = env.with_local_frame(4, |env| -> jni::errors::Result<()> {
            let target = env.new_string(record.target())?;
            let message = env.new_string(record.args().to_string())?;
            let class: &JClass = class.as_obj().into();
            env.call_static_method(
                class,
                "log",
                "(ILjava/lang/String;Ljava/lang/String;)V",
                &[
                    JValue::Int(level),
                    JValue::Object(&target),
                    JValue::Object(&message),
                ],
            )?;
            Ok(())
        });
        let _ = env.exception_clear();
    }

    fn flush(&self) {}
}
