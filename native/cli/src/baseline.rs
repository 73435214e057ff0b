//! The plain-TCP baseline for `ferry bench`: a server holding the same generated
//! bytes in memory. Each request is 16 bytes (`u64` LE byte count, 8 reserved);
//! the server answers with that many bytes of its data, wrapping around. A
//! large count is a plain stream; 4096 is a request/response round trip.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::{gen, CliError, Result};

pub const REQUEST_LEN: usize = 16;
/// The most one write() sends. One giant write (the whole 256 MiB) measured
/// about 30% slower on loopback than 1 MiB writes, which would flatter Ferry.
const WRITE_SIZE: usize = 1 << 20;

#[derive(Args)]
pub struct BaselineArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Generated blocks to hold (the same content as `ferry serve --generate`).
    #[arg(long, value_name = "COUNT")]
    pub generate: u64,
    #[arg(long, value_name = "BYTES", value_parser = crate::size_arg)]
    pub size: u64,
    #[arg(long)]
    pub until_stdin_closes: bool,
}

pub fn run(args: BaselineArgs) -> Result<()> {
    let data: Arc<[u8]> = gen::generate(args.generate, args.size)?.into();
    if data.is_empty() {
        return Err(CliError::new("baseline-server: nothing to serve"));
    }
    let listener = TcpListener::bind(args.listen)?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let data = data.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve_connection(stream, &data) {
                    log::debug!("baseline connection ended: {e}");
                }
            });
        }
    });
    crate::say(format_args!("listening on {addr}"))?;
    if args.until_stdin_closes {
        io::copy(&mut io::stdin().lock(), &mut io::sink())?;
        Ok(())
    } else {
        loop {
            std::thread::park();
        }
    }
}

fn serve_connection(mut stream: TcpStream, data: &[u8]) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut request = [0u8; REQUEST_LEN];
    loop {
        match stream.read_exact(&mut request) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut left = u64::from_le_bytes(request[..8].try_into().expect("8 bytes"));
        let mut at = 0usize;
        while left > 0 {
            let n = (data.len() - at)
                .min(usize::try_from(left).unwrap_or(usize::MAX))
                .min(WRITE_SIZE);
            stream.write_all(&data[at..at + n])?;
            left -= n as u64;
            at = (at + n) % data.len();
        }
    }
}

/// The client side of the baseline, on one connection.
pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Result<Client> {
        let stream = TcpStream::connect(addr)
            .map_err(|e| CliError::new(format!("connecting to the baseline server {addr}: {e}")))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            stream,
            buffer: vec![0u8; 1 << 20],
        })
    }

    fn request(&mut self, bytes: u64) -> io::Result<()> {
        let mut request = [0u8; REQUEST_LEN];
        request[..8].copy_from_slice(&bytes.to_le_bytes());
        self.stream.write_all(&request)
    }

    /// Streams `bytes` bytes, read into one reused 1 MiB buffer; returns the time taken.
    pub fn stream(&mut self, bytes: u64) -> Result<Duration> {
        let start = Instant::now();
        self.request(bytes)?;
        let mut left = bytes;
        while left > 0 {
            let want = self
                .buffer
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            match self.stream.read(&mut self.buffer[..want]) {
                Ok(0) => return Err(CliError::new("baseline server closed the stream early")),
                Ok(n) => left -= n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(start.elapsed())
    }

    /// One round trip: a 16-byte request answered by `reply` bytes.
    pub fn round_trip(&mut self, reply: usize) -> Result<Duration> {
        let reply = reply.min(self.buffer.len());
        let start = Instant::now();
        self.request(reply as u64)?;
        self.stream.read_exact(&mut self.buffer[..reply])?;
        Ok(start.elapsed())
    }
}
