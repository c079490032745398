//! IP protocol numbers (IANA "Assigned Internet Protocol Numbers"; wire-mobility.md §1).

enum_with_unknown! {
    /// The IPv6 Next Header / IPv4 Protocol registry, restricted to the values we name.
    pub enum IpProtocol(u8) {
        HopByHop = 0,
        /// IPv4 encapsulated (IP-in-IP).
        Ipv4 = 4,
        Tcp = 6,
        Udp = 17,
        /// IPv6 encapsulated.
        Ipv6 = 41,
        Ipv6Route = 43,
        Ipv6Frag = 44,
        Esp = 50,
        Ah = 51,
        Icmpv6 = 58,
        /// No Next Header (RFC 8200 §4.7); the MH Payload Proto value.
        NoNextHeader = 59,
        Ipv6Opts = 60,
        /// Mobility Header (RFC 6275 §6.1.1).
        Mobility = 135,
    }
}
