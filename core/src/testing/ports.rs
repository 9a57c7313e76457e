//! A crashed test backend's port, held until the backend starts again.
//!
//! A test that crashes a private backend (redis-server, PostgreSQL) and
//! starts it again on the same port leaves the port free in between. Any
//! listener bound meanwhile to `127.0.0.1:0` (another test's server, in the
//! same process or not) may be given it, and the store under test then talks
//! to that listener instead of finding nothing there: it gets answers in a
//! protocol it does not speak, not a refused connection. [`hold`] binds the
//! port without listening, so connections to it are refused, as they are to
//! a crashed server, and the kernel hands it to no other socket until
//! [`release`].

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

fn held() -> MutexGuard<'static, HashMap<u16, Socket>> {
    static HELD: OnceLock<Mutex<HashMap<u16, Socket>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Binds `127.0.0.1:port` without listening, until [`release`]. Tries for
/// about a second while the port is still taken (a killed server's process
/// may not be gone yet); returns whether the port is held.
///
/// The socket has `SO_REUSEADDR`, like the backends' own listeners, so the
/// killed server's connections in `TIME_WAIT` do not stop it. A socket bound
/// to a port keeps that port out of the kernel's choice for `bind(0)` and
/// for outgoing connections.
pub fn hold(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    for _ in 0..50 {
        let bound = Socket::new(Domain::IPV4, Type::STREAM, None).and_then(|socket| {
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            Ok(socket)
        });
        if let Ok(socket) = bound {
            held().insert(port, socket);
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Lets the port go, for the backend to bind it again; nothing happens if it
/// is not held.
pub fn release(port: u16) {
    held().remove(&port);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_refuses_connections_and_is_not_given_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(hold(port));
        let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        // A socket asking for this very port (without SO_REUSEADDR) is refused it.
        let other = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let taken = other.bind(&addr.into()).unwrap_err();
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
        // No listener asking for any port gets this one.
        for _ in 0..2000 {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            assert_ne!(l.local_addr().unwrap().port(), port);
        }
        release(port);
        // Released: the backend can listen on it again.
        let again = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        assert_eq!(again.local_addr().unwrap().port(), port);
    }
}
