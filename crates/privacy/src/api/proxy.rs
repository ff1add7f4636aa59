//! The client's address behind reverse proxies: `X-Forwarded-For` is believed only when the
//! peer is a configured trusted proxy, and then read from the right, skipping the trusted hops,
//! so a client cannot choose its logged address by sending the header itself.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks whose connections may say, in `X-Forwarded-For`, whom they forward for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts the given networks (a single address is a `/32` or `/128`).
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Parses CIDRs such as `10.0.0.0/8` or bare addresses such as `127.0.0.1`.
    pub fn parse(cidrs: &[String]) -> Result<Self, String> {
        cidrs
            .iter()
            .map(|c| {
                c.parse::<IpNet>()
                    .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("trusted proxy {c:?} is neither a CIDR nor an IP address"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a connection from `peer` carrying these `X-Forwarded-For` header
    /// values (in order): the right-most forwarded address that is not itself a trusted proxy.
    /// The peer is the client when it is not trusted, or when the header is absent or unusable.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusts(peer) {
            return peer.to_canonical();
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer.to_canonical();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                // A malformed entry ends what can be believed.
                break;
            };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let t = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let xff = ["198.51.100.7"];
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), xff.into_iter()),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_ip(ip("192.0.2.1"), xff.into_iter()),
            ip("192.0.2.1")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), [].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn right_most_untrusted_hop_wins() {
        let t = TrustedProxies::parse(&["127.0.0.1/32".into(), "10.0.0.0/8".into()]).unwrap();
        // The client forged the first entry; 10.1.2.3 is an inner proxy.
        let xff = ["6.6.6.6, 198.51.100.7", "10.1.2.3"];
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), xff.into_iter()),
            ip("198.51.100.7")
        );
        // A malformed hop stops the walk at the last believable address.
        let xff = ["198.51.100.7, garbage"];
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), xff.into_iter()),
            ip("127.0.0.1")
        );
        // IPv4-mapped IPv6 peers count as their IPv4 address.
        assert_eq!(
            t.client_ip(ip("::ffff:127.0.0.1"), ["203.0.113.5"].into_iter()),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn bad_cidr_is_named() {
        let e = TrustedProxies::parse(&["10.0.0.0/40".into()]).unwrap_err();
        assert!(e.contains("10.0.0.0/40"), "{e}");
    }
}
