use std::sync::Arc;

use super::*;

fn b(i: u32) -> Binding {
    let hoa = Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0x1000);
    Binding {
        home_address: hoa,
        home_prefix: Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0),
        prefix_len: 64,
        ipv4_home_address: Some(Ipv4Addr::from(0x0a00_0000 + i)),
        care_of: CareOf::V4 {
            addr: Ipv4Addr::from(0xc633_6400 + i),
            port: Some(4191),
        },
        encapsulation: Encapsulation::UdpIpv4,
        lifetime: 3600.0,
        expires_at: Instant(3_600_000_000 + u64::from(i)),
        sequence: 1,
        flags: 0xd400,
        sa_in: Some(0x1000 + i),
        sa_out: Some(0x2000 + i),
    }
}

#[test]
fn insert_lookup_update_remove() {
    let c = BindingCache::new();
    for i in 0..100 {
        c.insert(b(i)).unwrap();
    }
    assert_eq!(c.len(), 100);
    assert_eq!(c.insert(b(5)), Err(CacheError::Exists));
    let b7 = b(7);
    assert_eq!(c.get(b7.home_address), Some(b7));
    // Another address inside the /64 finds the binding by longest-prefix match.
    let inside = Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 1, 2, 3, 4);
    assert_eq!(c.lookup_v6(inside), Some(b7));
    assert_eq!(
        c.lookup_v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 700, 1, 2, 3, 4)),
        None
    );
    assert_eq!(c.lookup_v4(Ipv4Addr::from(0x0a00_0007)), Some(b7));
    assert_eq!(c.lookup_v4(Ipv4Addr::from(0x0b00_0007)), None);
    let coa = IpAddr::V4(Ipv4Addr::from(0xc633_6407));
    assert_eq!(c.lookup_inbound(coa, InboundKey::UdpPort(4191)), Some(b7));
    assert_eq!(c.lookup_inbound(coa, InboundKey::Spi(0x1007)), Some(b7));
    assert_eq!(c.lookup_inbound(coa, InboundKey::UdpPort(4192)), None);

    // Move to a new CoA (NAT rebinding): old inbound keys go, new ones answer.
    let mut moved = b7;
    moved.care_of = CareOf::V6("2001:db8:ffff::7".parse().unwrap());
    moved.encapsulation = Encapsulation::IpInIpv6;
    moved.sequence = 2;
    c.update(moved).unwrap();
    assert_eq!(c.lookup_inbound(coa, InboundKey::UdpPort(4191)), None);
    let new_coa: IpAddr = "2001:db8:ffff::7".parse().unwrap();
    assert_eq!(c.lookup_inbound(new_coa, InboundKey::Plain), Some(moved));
    assert_eq!(
        c.lookup_inbound(new_coa, InboundKey::Spi(0x1007)),
        Some(moved)
    );
    assert_eq!(c.update(b(1000)), Err(CacheError::NotFound));

    // Conflicts: another binding may not take binding 8's IPv4 HoA.
    let mut thief = b(500);
    thief.ipv4_home_address = b(8).ipv4_home_address;
    assert_eq!(c.insert(thief), Err(CacheError::KeyConflict));
    assert_eq!(c.get(thief.home_address), None, "nothing changed on error");
    assert_eq!(c.lookup_v4(Ipv4Addr::from(0x0a00_0008)), Some(b(8)));

    assert_eq!(c.remove(b7.home_address), Ok(moved));
    assert_eq!(c.remove(b7.home_address), Err(CacheError::NotFound));
    assert_eq!(c.lookup_v6(inside), None);
    assert_eq!(c.lookup_v4(Ipv4Addr::from(0x0a00_0007)), None);
    assert_eq!(c.len(), 99);
    assert_eq!(c.snapshot().len(), 99);
}

#[test]
fn longest_prefix_wins_and_other_lengths() {
    let c = BindingCache::new();
    let mut short = b(1);
    short.home_prefix = "2001:db8::".parse().unwrap();
    short.prefix_len = 32;
    short.home_address = "2001:db8::1".parse().unwrap();
    let mut long = b(2);
    long.home_prefix = "2001:db8:0:2::".parse().unwrap();
    long.prefix_len = 64;
    long.home_address = "2001:db8:0:2::1".parse().unwrap();
    let mut host = b(3);
    host.home_prefix = "2001:db8:0:2::99".parse().unwrap();
    host.prefix_len = 128;
    host.home_address = "2001:db8:0:2::99".parse().unwrap();
    for x in [short, long, host] {
        c.insert(x).unwrap();
    }
    assert_eq!(c.lookup_v6("2001:db8:0:2::5".parse().unwrap()), Some(long));
    assert_eq!(c.lookup_v6("2001:db8:0:2::99".parse().unwrap()), Some(host));
    assert_eq!(c.lookup_v6("2001:db8:7::5".parse().unwrap()), Some(short));
    assert_eq!(c.lookup_v6("2001:db9::5".parse().unwrap()), None);
    c.remove(long.home_address).unwrap();
    assert_eq!(c.lookup_v6("2001:db8:0:2::5".parse().unwrap()), Some(short));
    let mut bad = b(9);
    bad.home_address = "2001:db8:ffff::1".parse().unwrap();
    assert_eq!(c.insert(bad), Err(CacheError::BadPrefix));
    bad.prefix_len = 129;
    assert_eq!(c.insert(bad), Err(CacheError::BadPrefix));
}

#[test]
fn expiry_on_injected_clock() {
    let c = BindingCache::new();
    for i in 0..10 {
        let mut x = b(i);
        x.expires_at = Instant::from_secs_f64(f64::from(i) * 10.0);
        c.insert(x).unwrap();
    }
    assert_eq!(c.expire(Instant::from_secs_f64(-1.0)).len(), 1); // the one at t = 0
    let mut gone = c.expire(Instant::from_secs_f64(35.0));
    gone.sort();
    assert_eq!(
        gone,
        vec![b(1).home_address, b(2).home_address, b(3).home_address]
    );
    assert_eq!(c.len(), 6);
    assert!(c.get(b(3).home_address).is_none());
    assert!(c.get(b(4).home_address).is_some());
}

#[test]
fn counters_survive_update() {
    let c = BindingCache::new();
    c.insert(b(1)).unwrap();
    assert!(c.count(b(1).home_address, true, 100));
    assert!(c.count(b(1).home_address, false, 60));
    assert!(!c.count(b(2).home_address, true, 1));
    c.update(b(1)).unwrap();
    let k = c.counters(b(1).home_address).unwrap();
    assert_eq!(
        (
            k.packets_to_ue,
            k.bytes_to_ue,
            k.packets_from_ue,
            k.bytes_from_ue
        ),
        (1, 100, 1, 60)
    );
}

/// Readers run while a writer inserts, updates and removes: every read sees a complete,
/// consistent binding (never a torn mix), and stable entries are always found.
#[test]
fn concurrent_update_and_lookup() {
    let c = Arc::new(BindingCache::new());
    for i in 0..1000 {
        c.insert(b(i)).unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let c = Arc::clone(&c);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut i = t;
                let (mut out, mut views) = (Vec::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) || n < 10_000 {
                    i = (i * 7 + 13) % 1000;
                    if t == 3 {
                        // Batch lookups of stable entries (exact HoA, and addresses inside
                        // their /64) while the writer updates, removes, re-inserts and
                        // rebuilds filters.
                        let hoas: Vec<Ipv6Addr> = (0..40)
                            .map(|j| b((i + j * 11) % 500).home_address)
                            .collect();
                        let inside: Vec<Ipv6Addr> = hoas
                            .iter()
                            .map(|a| Ipv6Addr::from(u128::from(*a) ^ 0x55))
                            .collect();
                        out.clear();
                        c.get_batch(&hoas, &mut out);
                        views.clear();
                        c.lookup_v6_view_batch(&inside, &mut views);
                        for ((a, g), v) in hoas.iter().zip(&out).zip(&views) {
                            assert_eq!(g.expect("stable entry vanished").home_address, *a);
                            assert_eq!(v.expect("stable prefix vanished").home_address(), *a);
                        }
                        n += 40;
                        continue;
                    }
                    let want = b(i);
                    // Entries 0..500 are stable except for their sequence number.
                    if i < 500 {
                        let got = c
                            .lookup_v6(want.home_address)
                            .expect("stable entry vanished");
                        assert_eq!(got.home_prefix, want.home_prefix);
                        assert_eq!(got.ipv4_home_address, want.ipv4_home_address);
                        let by_v4 = c.lookup_v4(want.ipv4_home_address.unwrap()).unwrap();
                        assert_eq!(by_v4.home_address, want.home_address);
                    } else if let Some(got) = c.get(want.home_address) {
                        assert_eq!(got.home_address, want.home_address);
                        assert_eq!(got.sa_out, want.sa_out);
                    }
                    n += 1;
                    if n > 2_000_000 {
                        break;
                    }
                }
                n
            })
        })
        .collect();
    for round in 0..200u32 {
        for i in 0..500 {
            let mut x = b(i);
            x.sequence = round as u16;
            c.update(x).unwrap();
        }
        for i in 500..1000 {
            if round % 2 == 0 {
                c.remove(b(i).home_address).unwrap();
            } else {
                c.insert(b(i)).unwrap();
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 10_000);
    }
    assert_eq!(c.len(), 1000);
}

/// A removed binding's slot is reused by the next insert: none of the old binding's keys may
/// lead to the new one, and every key of the new one answers.
#[test]
fn reused_slot_answers_only_its_own_keys() {
    let c = BindingCache::new();
    let (old, new) = (b(1), b(2));
    c.insert(old).unwrap();
    c.remove(old.home_address).unwrap();
    c.insert(new).unwrap();
    assert_eq!(c.get(old.home_address), None);
    assert_eq!(
        c.lookup_v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9)),
        None
    );
    assert_eq!(c.lookup_v4(old.ipv4_home_address.unwrap()), None);
    let old_coa = old.care_of.addr();
    assert_eq!(c.lookup_inbound(old_coa, InboundKey::UdpPort(4191)), None);
    assert_eq!(c.lookup_inbound(old_coa, InboundKey::Spi(0x1001)), None);
    assert_eq!(
        c.lookup_v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 9, 9, 9, 9)),
        Some(new)
    );
    assert_eq!(c.lookup_v4(new.ipv4_home_address.unwrap()), Some(new));
    let new_coa = new.care_of.addr();
    assert_eq!(
        c.lookup_inbound(new_coa, InboundKey::Spi(0x1002)),
        Some(new)
    );
    // The old binding's keys are free again.
    c.insert(old).unwrap();
    assert_eq!(c.lookup_v4(old.ipv4_home_address.unwrap()), Some(old));
    assert_eq!(c.len(), 2);
}

/// Many removals in between inserts (probe runs shift back, tables grow): every present key
/// is found, every removed one is not.
#[test]
fn churn_keeps_every_key_findable() {
    let c = BindingCache::new();
    for i in 0..20_000 {
        c.insert(b(i)).unwrap();
    }
    for i in (0..20_000).filter(|i| i % 3 != 0) {
        c.remove(b(i).home_address).unwrap();
    }
    for i in 20_000..25_000 {
        c.insert(b(i)).unwrap();
    }
    for i in 0..25_000 {
        let present = i >= 20_000 || i % 3 == 0;
        assert_eq!(c.get(b(i).home_address).is_some(), present, "{i}");
        assert_eq!(
            c.lookup_v4(b(i).ipv4_home_address.unwrap()).is_some(),
            present
        );
    }
    assert_eq!(c.len(), 5_000 + 20_000usize.div_ceil(3));
}

/// Removals leave stale bits in the membership filters until the writer rebuilds them; the
/// rebuilt filters still answer every present key of every index, and a removed key misses.
/// (Session 12: a quarter of the bindings are /128, so that the HoA index holds keys: a /64
/// binding has none there.)
#[test]
fn filter_rebuild_keeps_every_present_key() {
    let b = |i: u32| {
        let mut x = b(i);
        if i % 4 == 1 {
            (x.prefix_len, x.home_prefix) = (128, x.home_address);
        }
        x
    };
    let c = BindingCache::new();
    for i in 0..4_000 {
        c.insert(b(i)).unwrap();
    }
    let before: Vec<usize> = c.tables.iter().map(Table::filter_generation).collect();
    // Remove three quarters, then bring a few back: the stale keys outnumber the live ones.
    for i in (0..4_000).filter(|i| i % 4 != 0) {
        c.remove(b(i).home_address).unwrap();
    }
    for i in (0..4_000).filter(|i| i % 8 == 1) {
        c.insert(b(i)).unwrap();
    }
    let after: Vec<usize> = c.tables.iter().map(Table::filter_generation).collect();
    for t in [0, 1, 2, 3, 4] {
        assert!(after[t] > before[t], "table {t}: filter not rebuilt");
    }
    for i in 0..4_100 {
        let x = b(i);
        let present = i < 4_000 && (i % 4 == 0 || i % 8 == 1);
        assert_eq!(c.get(x.home_address).is_some(), present, "{i}");
        let inside = Ipv6Addr::new(0x2001, 0xdb8, 0, i as u16, 9, 9, 9, 9);
        assert_eq!(c.lookup_v6(inside).is_some(), present && i % 4 != 1, "{i}");
        assert_eq!(c.lookup_v6(x.home_address).is_some(), present, "{i}");
        assert_eq!(c.lookup_v4(x.ipv4_home_address.unwrap()).is_some(), present);
        let coa = x.care_of.addr();
        assert_eq!(
            c.lookup_inbound(coa, InboundKey::UdpPort(4191)).is_some(),
            present
        );
        assert_eq!(
            c.lookup_inbound(coa, InboundKey::Spi(0x1000 + i)).is_some(),
            present
        );
    }
}

/// The batch lookups answer exactly as the single ones: hits, misses, addresses inside a
/// /64, inside a prefix of another length, removed bindings, batches longer than one chunk.
#[test]
fn batch_lookups_match_single_lookups() {
    let c = BindingCache::new();
    for i in 0..300 {
        c.insert(b(i)).unwrap();
    }
    let mut short = b(1000);
    short.home_prefix = "2001:db8:ff00::".parse().unwrap();
    short.prefix_len = 40;
    short.home_address = "2001:db8:ff00::1".parse().unwrap();
    c.insert(short).unwrap();
    // A /80 inside binding 5's /64: it beats the /64 for the addresses it covers.
    let mut long = b(1001);
    long.home_prefix = "2001:db8:0:5:9::".parse().unwrap();
    long.prefix_len = 80;
    long.home_address = "2001:db8:0:5:9::1".parse().unwrap();
    c.insert(long).unwrap();
    for i in (0..300).step_by(7) {
        c.remove(b(i).home_address).unwrap();
    }
    let mut addrs = Vec::new();
    for i in 0..320u32 {
        addrs.push(b(i).home_address);
        addrs.push(Ipv6Addr::new(0x2001, 0xdb8, 0, i as u16, 9, 9, 9, 9));
        addrs.push(Ipv6Addr::new(0x2001, 0xdb9, 0, i as u16, 0, 0, 0, 0x1000));
    }
    addrs.push("2001:db8:ff00:1::5".parse().unwrap());
    addrs.push(short.home_address);
    let check = |c: &BindingCache| {
        let (mut got, mut got_v6) = (Vec::new(), Vec::new());
        c.get_batch(&addrs, &mut got);
        c.lookup_v6_batch(&addrs, &mut got_v6);
        assert_eq!(got.len(), addrs.len());
        for ((a, g), g6) in addrs.iter().zip(&got).zip(&got_v6) {
            assert_eq!(*g, c.get(*a), "get {a}");
            assert_eq!(*g6, c.lookup_v6(*a), "lookup_v6 {a}");
        }
        got_v6.iter().filter(|x| x.is_some()).count()
    };
    let with_short = check(&c);
    assert!(with_short > 500);
    assert_eq!(
        c.lookup_v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 5, 9, 9, 9, 9)),
        Some(long)
    );
    // /64 and longer prefixes: the /80 still wins in the batch pass.
    c.remove(short.home_address).unwrap();
    assert_eq!(check(&c), with_short - 2);
    // Only /64 prefixes in use: a /64 miss in the batch pass is final.
    c.remove(long.home_address).unwrap();
    assert_eq!(check(&c), with_short - 2);
    assert_eq!(
        c.lookup_v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 5, 9, 9, 9, 9)),
        Some(b(5))
    );
}

/// A batch insert answers and leaves the cache exactly as the same inserts one by one:
/// fresh bindings, a duplicate home address, a key owned by another binding (also within
/// the same group), a bad prefix; more bindings than one group.
#[test]
fn batch_insert_matches_single_inserts() {
    let mut items: Vec<Binding> = (0..40).map(b).collect();
    items.push(b(3));
    let mut clash = b(100);
    clash.ipv4_home_address = b(7).ipv4_home_address;
    items.push(clash);
    let mut bad = b(101);
    bad.prefix_len = 129;
    items.push(bad);
    items.push(b(102));
    items.push(b(102));
    let (one, many) = (BindingCache::new(), BindingCache::new());
    let want: Vec<_> = items.iter().map(|x| one.insert_general(*x, ())).collect();
    let mut got = Vec::new();
    many.insert_batch(&items, &mut got);
    assert_eq!(got, want);
    assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 41);
    assert_eq!(got[40], Err(CacheError::Exists));
    assert_eq!(got[41], Err(CacheError::KeyConflict));
    assert_eq!(got[42], Err(CacheError::BadPrefix));
    assert_eq!(got[44], Err(CacheError::Exists));
    assert_eq!(many.len(), one.len());
    for x in &items {
        assert_eq!(many.get(x.home_address), one.get(x.home_address));
        assert_eq!(
            many.lookup_v4(Ipv4Addr::from(0x0a00_0000 + 7)),
            one.lookup_v4(Ipv4Addr::from(0x0a00_0000 + 7))
        );
    }
    let mut s = many.snapshot();
    let mut t = one.snapshot();
    s.sort_by_key(|x| x.home_address);
    t.sort_by_key(|x| x.home_address);
    assert_eq!(s, t);
}

/// The views decode to exactly what the decoding lookups return, field by field.
#[test]
fn views_decode_as_lookups() {
    let c = BindingCache::new();
    let mut v6 = b(5);
    v6.care_of = CareOf::V6("2001:db8:ffff::5".parse().unwrap());
    v6.encapsulation = Encapsulation::IpInIpv6;
    v6.ipv4_home_address = None;
    v6.sa_in = None;
    v6.expires_at = Instant::from_secs_f64(f64::INFINITY);
    let mut plain = b(6);
    plain.care_of = CareOf::V4 {
        addr: Ipv4Addr::new(198, 51, 100, 6),
        port: None,
    };
    plain.encapsulation = Encapsulation::IpInIpv4;
    plain.sa_out = None;
    for x in [b(1), v6, plain] {
        c.insert(x).unwrap();
        let v = c.get_view(x.home_address).unwrap();
        assert_eq!(v.binding(), x);
        assert_eq!(Binding::from(v), x);
        assert_eq!(v.home_address(), x.home_address);
        assert_eq!(v.home_prefix(), x.home_prefix);
        assert_eq!(v.prefix_len(), x.prefix_len);
        assert_eq!(v.ipv4_home_address(), x.ipv4_home_address);
        assert_eq!(v.care_of(), x.care_of);
        assert_eq!(v.encapsulation(), x.encapsulation);
        assert_eq!(v.lifetime().to_bits(), x.lifetime.to_bits());
        assert_eq!(v.expires_at(), x.expires_at);
        assert_eq!(v.sequence(), x.sequence);
        assert_eq!(v.flags(), x.flags);
        assert_eq!(v.sa_in(), x.sa_in);
        assert_eq!(v.sa_out(), x.sa_out);
        let inside = Ipv6Addr::from(u128::from(x.home_prefix) | 0x99);
        assert_eq!(
            c.lookup_v6_view(inside).map(|v| v.binding()),
            c.lookup_v6(inside)
        );
        assert_eq!(format!("{v:?}"), format!("{x:?}"));
    }
    // A view compares equal across an update that rewrote the same binding.
    let before = c.get_view(b(1).home_address).unwrap();
    c.update(b(1)).unwrap();
    assert_eq!(c.get_view(b(1).home_address), Some(before));
    assert_eq!(c.get_view(b(2).home_address), None);
    let addrs: Vec<Ipv6Addr> = (0..40).map(|i| b(i).home_address).collect();
    let (mut views, mut full) = (Vec::new(), Vec::new());
    c.get_view_batch(&addrs, &mut views);
    c.get_batch(&addrs, &mut full);
    assert_eq!(
        views
            .iter()
            .map(|v| v.map(|v| v.binding()))
            .collect::<Vec<_>>(),
        full
    );
    c.lookup_v6_view_batch(&addrs, &mut views);
    c.lookup_v6_batch(&addrs, &mut full);
    assert_eq!(views.len(), 80);
    assert_eq!(
        views[40..]
            .iter()
            .map(|v| v.map(|v| v.binding()))
            .collect::<Vec<_>>(),
        full[40..]
    );
}

/// Duplicate and conflicting keys are refused on every key kind while the tables grow
/// (each insert's duplicate check and placement share one view of each table, renewed when
/// the insert itself grows a table), and nothing changes on a refusal.
#[test]
fn insert_refuses_duplicates_across_growth() {
    let c = BindingCache::new();
    for i in 0..70_000u32 {
        c.insert(b(i)).unwrap();
        // Every 997th insert: the same binding again, and new bindings reusing one key of
        // an existing one (prefix, IPv4 HoA, inbound UDP key, inbound SPI).
        if i % 997 == 0 {
            let len = c.len();
            assert_eq!(c.insert(b(i)), Err(CacheError::Exists));
            let j = 1_000_000 + i;
            let mut p = b(j);
            p.home_address = Ipv6Addr::from(u128::from(b(i).home_address) ^ 0x77);
            p.home_prefix = b(i).home_prefix;
            let mut v4 = b(j);
            v4.ipv4_home_address = b(i).ipv4_home_address;
            let mut udp = b(j);
            udp.care_of = b(i).care_of;
            udp.sa_in = None;
            let mut spi = b(j);
            spi.care_of = b(i).care_of;
            spi.care_of = match spi.care_of {
                CareOf::V4 { addr, .. } => CareOf::V4 { addr, port: None },
                c => c,
            };
            spi.encapsulation = Encapsulation::IpInIpv4;
            spi.sa_in = b(i).sa_in;
            for x in [p, v4, udp, spi] {
                assert_eq!(c.insert(x), Err(CacheError::KeyConflict), "{i}");
            }
            assert_eq!(c.len(), len);
            assert_eq!(c.get(b(j).home_address), None);
        }
    }
    for i in (0..70_000u32).step_by(7) {
        let x = b(i);
        assert_eq!(c.get(x.home_address), Some(x));
        assert_eq!(c.lookup_v4(x.ipv4_home_address.unwrap()), Some(x));
        let coa = x.care_of.addr();
        assert_eq!(
            c.lookup_inbound(coa, InboundKey::Spi(x.sa_in.unwrap())),
            Some(x)
        );
    }
}

/// Readers look up stable bindings while the writer grows every table through several
/// rebuilds (more keys, and record ids past 2^16 and 2^17, which widen the index slots),
/// then removes most of the new ones (filter rebuilds): a present binding is never missed
/// and a binding never inserted is never found.
#[test]
fn lookups_during_growth_never_miss() {
    let c = Arc::new(BindingCache::new());
    for i in 0..500 {
        c.insert(b(i)).unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let c = Arc::clone(&c);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut i = t;
                let mut out = Vec::new();
                while !stop.load(Ordering::Relaxed) || n < 5_000 {
                    i = (i * 7 + 13) % 500;
                    let want = b(i);
                    match t {
                        0 => {
                            assert_eq!(c.get(want.home_address), Some(want), "{i}");
                            assert!(c.get(b(i + 3_000_000).home_address).is_none());
                        }
                        1 => {
                            let v = c.get_view(want.home_address).expect("present");
                            assert_eq!(v.binding(), want);
                            let by_v4 = c.lookup_v4(want.ipv4_home_address.unwrap());
                            assert_eq!(by_v4, Some(want));
                        }
                        _ => {
                            let hoas: Vec<Ipv6Addr> = (0..32)
                                .map(|j| b((i + j * 13) % 500).home_address)
                                .chain([b(3_000_000 + i).home_address])
                                .collect();
                            out.clear();
                            c.get_batch(&hoas, &mut out);
                            for (a, g) in hoas.iter().zip(&out).take(32) {
                                assert_eq!(g.expect("present").home_address, *a);
                            }
                            assert_eq!(out[32], None);
                        }
                    }
                    n += 1;
                    if n > 5_000_000 {
                        break;
                    }
                }
                n
            })
        })
        .collect();
    for i in 500..140_000 {
        c.insert(b(i)).unwrap();
    }
    for i in 500..140_000 {
        if i % 8 != 0 {
            c.remove(b(i).home_address).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 5_000);
    }
    assert_eq!(c.len(), 500 + (500..140_000).filter(|i| i % 8 == 0).count());
}

/// The batch insert through table growth (record ids past 2^16, which widen the index
/// slots), reused record ids and payloads: the same answers and contents as inserts one
/// by one, and every key of every binding answers.
#[test]
fn batch_insert_through_growth_and_reuse() {
    let (one, many) = (BindingCache::new(), BindingCache::new());
    // Freed ids first (reused oldest first), then fresh ones through several rebuilds.
    for c in [&one, &many] {
        for i in 0..300 {
            c.insert_with(b(i), i).unwrap();
        }
        for i in (0..300).step_by(3) {
            c.remove(b(i).home_address).unwrap();
        }
    }
    let mut items: Vec<(Binding, u32)> = (300..70_000).map(|i| (b(i), i)).collect();
    // Duplicates of a live and of a removed binding, late in the batch.
    items.push((b(5), 5));
    items.push((b(6), 6));
    let want: Vec<_> = items
        .iter()
        .map(|(x, p)| one.insert_general(*x, *p))
        .collect();
    let mut got = Vec::new();
    many.insert_batch_with(items.iter().copied(), &mut got);
    assert_eq!(got, want);
    assert_eq!(got[got.len() - 2], Err(CacheError::Exists));
    assert_eq!(got[got.len() - 1], Ok(()));
    assert_eq!(many.len(), one.len());
    for i in (0..70_000u32).step_by(11) {
        let x = b(i);
        let live = i % 3 != 0 || i >= 300 || i == 6;
        assert_eq!(many.get(x.home_address), live.then_some(x), "{i}");
        if !live {
            continue;
        }
        assert_eq!(many.get_with(x.home_address, |_, p| *p), Some(i));
        assert_eq!(many.lookup_v4(x.ipv4_home_address.unwrap()), Some(x));
        let coa = x.care_of.addr();
        assert_eq!(
            many.lookup_inbound(coa, InboundKey::Spi(x.sa_in.unwrap())),
            Some(x)
        );
        assert_eq!(many.lookup_inbound(coa, InboundKey::UdpPort(4191)), Some(x));
        let inside = Ipv6Addr::from(u128::from(x.home_address) ^ 0x42);
        assert_eq!(many.lookup_v6(inside), Some(x));
    }
}

/// Readers run the batch lookups (views and decoded) over stable bindings and absent
/// addresses while the writer adds bindings with `insert_batch` (growing every table and
/// widening record ids), removes them and adds them again into reused records: a present
/// binding is never missed, an absent one never found.
#[test]
fn batch_lookups_during_batch_inserts_never_miss() {
    let c = Arc::new(BindingCache::new());
    for i in 0..500 {
        c.insert(b(i)).unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let c = Arc::clone(&c);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut n, mut i) = (0u64, t);
                let (mut views, mut full) = (Vec::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) || n < 2_000 {
                    i = (i * 7 + 13) % 500;
                    let hoas: Vec<Ipv6Addr> = (0..40)
                        .map(|j| b((i + j * 17) % 500).home_address)
                        .chain([b(5_000_000 + i).home_address])
                        .collect();
                    if t == 0 {
                        views.clear();
                        c.get_view_batch(&hoas, &mut views);
                        for (a, v) in hoas.iter().zip(&views).take(40) {
                            assert_eq!(v.expect("present").home_address(), *a);
                        }
                        assert!(views[40].is_none());
                    } else {
                        full.clear();
                        c.get_batch(&hoas, &mut full);
                        for (a, g) in hoas.iter().zip(&full).take(40) {
                            assert_eq!(g.expect("present").home_address, *a);
                        }
                        assert!(full[40].is_none());
                    }
                    n += 1;
                    if n > 5_000_000 {
                        break;
                    }
                }
                n
            })
        })
        .collect();
    let mut out = Vec::new();
    for round in 0..3u32 {
        let fresh: Vec<Binding> = (0..40_000).map(|j| b(10_000 + j)).collect();
        out.clear();
        c.insert_batch(&fresh, &mut out);
        assert!(out.iter().all(Result::is_ok), "round {round}");
        for x in &fresh {
            c.remove(x.home_address).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 2_000);
    }
    assert_eq!(c.len(), 500);
}

/// Bindings of every shape the lean batch-insert kernel plans: all five keys; no IPv4 HoA
/// nor inbound SPI with an IPv6 CoA; a prefix of another length (/80, /128); an IPv4 CoA
/// without a UDP port.
fn mixed(i: u32) -> Binding {
    let mut x = b(i);
    let (hi, lo) = ((i >> 16) as u16, i as u16);
    match i % 5 {
        1 => {
            x.ipv4_home_address = None;
            x.sa_in = None;
            x.care_of = CareOf::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, hi, lo, 0, 0, 1));
            x.encapsulation = Encapsulation::IpInIpv6;
        }
        2 => {
            x.prefix_len = 80;
            x.home_prefix = Ipv6Addr::new(0x2001, 0xdb8, hi, lo, 0, 0, 0, 0);
        }
        3 => {
            x.care_of = CareOf::V4 {
                addr: Ipv4Addr::from(0xc633_6400 + i),
                port: None,
            };
            x.encapsulation = Encapsulation::IpInIpv4;
        }
        4 => {
            x.prefix_len = 128;
            x.home_prefix = x.home_address;
        }
        _ => {}
    }
    x
}

/// Every key of `x` answers in `got` as in `want` (exact HoA with payload, an address
/// inside its prefix, IPv4 HoA, both inbound keys).
fn same_answers(got: &BindingCache<u32>, want: &BindingCache<u32>, x: &Binding) {
    let hoa = x.home_address;
    assert_eq!(got.get(hoa), want.get(hoa), "{hoa}");
    assert_eq!(
        got.get_with(hoa, |_, p| *p),
        want.get_with(hoa, |_, p| *p),
        "{hoa}"
    );
    let inside = Ipv6Addr::from(u128::from(hoa) ^ if x.prefix_len == 128 { 0 } else { 0x42 });
    assert_eq!(got.lookup_v6(inside), want.lookup_v6(inside), "{hoa}");
    if let Some(a) = x.ipv4_home_address {
        assert_eq!(got.lookup_v4(a), want.lookup_v4(a), "{hoa}");
    }
    let coa = x.care_of.addr();
    let first = match x.care_of {
        CareOf::V4 { port: Some(p), .. } => InboundKey::UdpPort(p),
        _ => InboundKey::Plain,
    };
    assert_eq!(
        got.lookup_inbound(coa, first),
        want.lookup_inbound(coa, first),
        "{hoa}"
    );
    if let Some(s) = x.sa_in {
        let k = InboundKey::Spi(s);
        assert_eq!(
            got.lookup_inbound(coa, k),
            want.lookup_inbound(coa, k),
            "{hoa}"
        );
    }
}

/// The lean batch-insert kernel and each of its fallbacks (a filter word that cannot rule
/// a key out: duplicates and false positives, to the exact check; a full home bucket, to
/// the general placement; a group due for growth or wider record ids, to the planned
/// path) answer and leave the cache exactly as the same inserts one by one through the
/// general single insert: results, errors, payloads, every key of every binding, table and
/// cache lengths, the snapshot. So does `insert_with` (session 10: the lean kernel as a
/// group of one, the general path when a table must grow).
/// Reused record ids first, then fresh ones through several table rebuilds and the
/// widening past 2^16 ids; bindings of every key shape; duplicates of live, removed and
/// same-group bindings and key conflicts on each key kind.
#[test]
fn lean_batch_insert_and_fallbacks_match_single_inserts() {
    let (one, many) = (BindingCache::<u32>::new(), BindingCache::<u32>::new());
    let single = BindingCache::<u32>::new();
    for c in [&one, &many, &single] {
        for i in 0..300 {
            c.insert_general(mixed(i), i).unwrap();
        }
        for i in (0..300).step_by(3) {
            c.remove(mixed(i).home_address).unwrap();
        }
    }
    let mut items: Vec<(Binding, u32)> = Vec::new();
    for i in 300..70_000u32 {
        items.push((mixed(i), i));
        match i % 997 {
            // The same binding twice in a row (same group): Exists.
            0 => items.push((mixed(i), i + 1)),
            // A live binding's IPv4 HoA, inbound SPI, /80 prefix under new HoAs: KeyConflict.
            1 => {
                let mut x = mixed(1_000_000 + i);
                x.ipv4_home_address = mixed(i - 1).ipv4_home_address;
                items.push((x, 1));
            }
            2 => {
                let mut x = mixed(2_000_000 + i);
                (x.care_of, x.sa_in) = (mixed(i - 2).care_of, mixed(i - 2).sa_in);
                items.push((x, 2));
            }
            3 => {
                let mut x = mixed(i - 1);
                x.home_address = Ipv6Addr::from(u128::from(x.home_address) + 1);
                x.care_of = CareOf::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xeeee, 0, 0, 0, 0, 1));
                x.ipv4_home_address = None;
                x.sa_in = None;
                items.push((x, 3));
            }
            // A bad prefix.
            4 => {
                let mut x = mixed(3_000_000 + i);
                x.prefix_len = 129;
                items.push((x, 4));
            }
            // A live and a removed binding again.
            5 => {
                items.push((mixed(7), 5));
                items.push((mixed(9), 9));
            }
            _ => {}
        }
    }
    let want: Vec<_> = items
        .iter()
        .map(|(x, p)| one.insert_general(*x, *p))
        .collect();
    lean::LEAN_STATS.with(|s| s.set(lean::LeanStats::default()));
    let by_one: Vec<_> = items
        .iter()
        .map(|(x, p)| single.insert_with(*x, *p))
        .collect();
    let single_stats = lean::LEAN_STATS.with(std::cell::Cell::get);
    assert_eq!(by_one, want);
    // The single inserts took the lean kernel (and its exact check, full home buckets)
    // and, when a table had to grow, the general path.
    assert!(single_stats.lean > 60_000, "{single_stats:?}");
    assert!(single_stats.checked > 100, "{single_stats:?}");
    assert!(single_stats.spilled > 10, "{single_stats:?}");
    assert!(single_stats.groups_planned > 5, "{single_stats:?}");
    lean::LEAN_STATS.with(|s| s.set(lean::LeanStats::default()));
    let mut got = Vec::new();
    many.insert_batch_with(items.iter().copied(), &mut got);
    let stats = lean::LEAN_STATS.with(std::cell::Cell::get);
    assert_eq!(got, want);
    for e in [
        CacheError::Exists,
        CacheError::KeyConflict,
        CacheError::BadPrefix,
    ] {
        assert!(got.contains(&Err(e)), "{e:?}");
    }
    // Every path ran: lean, exact check, full home bucket, planned groups.
    assert!(stats.lean > 60_000, "{stats:?}");
    assert!(stats.checked > 100, "{stats:?}");
    assert!(stats.spilled > 10, "{stats:?}");
    assert!(stats.groups_planned > 5, "{stats:?}");
    let mut t = one.snapshot();
    t.sort_by_key(|x| x.home_address);
    for c in [&many, &single] {
        assert_eq!(c.len(), one.len());
        for tb in 0..TABLES {
            assert_eq!(c.tables[tb].len(), one.tables[tb].len(), "table {tb}");
        }
        for (x, _) in &items {
            same_answers(c, &one, x);
        }
        for i in 0..300 {
            same_answers(c, &one, &mixed(i));
        }
        let mut s = c.snapshot();
        s.sort_by_key(|x| x.home_address);
        assert_eq!(s, t);
    }
    // And the same again over the reused ids of everything just removed.
    for c in [&one, &many, &single] {
        for (x, _) in items.iter().step_by(2) {
            let _ = c.remove(x.home_address);
        }
    }
    let again: Vec<(Binding, u32)> = items.iter().step_by(2).copied().collect();
    let want: Vec<_> = again
        .iter()
        .map(|(x, p)| one.insert_general(*x, *p))
        .collect();
    got.clear();
    many.insert_batch_with(again.iter().copied(), &mut got);
    assert_eq!(got, want);
    let by_one: Vec<_> = again
        .iter()
        .map(|(x, p)| single.insert_with(*x, *p))
        .collect();
    assert_eq!(by_one, want);
    for c in [&many, &single] {
        assert_eq!(c.len(), one.len());
        for (x, _) in &items {
            same_answers(c, &one, x);
        }
    }
}

/// The branch-light decode (session 10, round 12): every field combination comes back
/// from every lookup as it was inserted. One binding per prefix length 0..=128 (the
/// prefix mask's every case), the three care-of kinds, the three encapsulations, expiry
/// "never", just under the 56-bit limit, zero and small, optional fields set and unset.
/// The expected answers are the inserted bindings, not another decode.
#[test]
fn batch_decode_returns_inserted_fields() {
    // The prefix of `len` leading bits, bit by bit (independent of the cache's masks).
    let prefix = |a: u128, len: u32| a & (0..len).fold(0u128, |m, k| m | 1 << (127 - k));
    let kinds = [
        Encapsulation::IpInIpv6,
        Encapsulation::IpInIpv4,
        Encapsulation::UdpIpv4,
    ];
    let mut want = Vec::new();
    for len in 0..=128u32 {
        let i = len;
        let hoa = (0x2001_0db8u128 << 96) | (u128::from(i) << 64) | 0x1000 | u128::from(i);
        let opt = |bit: u32, v: u32| (i >> bit & 1 != 0).then_some(v);
        want.push(Binding {
            home_address: Ipv6Addr::from(hoa),
            home_prefix: Ipv6Addr::from(prefix(hoa, len)),
            prefix_len: len as u8,
            ipv4_home_address: opt(0, 0x0a00_0000 + i).map(Ipv4Addr::from),
            care_of: match i % 3 {
                0 => CareOf::V6(Ipv6Addr::from((0x2001_0db8_ffffu128 << 80) | u128::from(i))),
                1 => CareOf::V4 {
                    addr: Ipv4Addr::from(0xc633_6400 + i),
                    port: None,
                },
                _ => CareOf::V4 {
                    addr: Ipv4Addr::from(0xcb00_7100 + i),
                    port: Some(0xfff0 + i as u16 % 16),
                },
            },
            encapsulation: kinds[(i / 3 % 3) as usize],
            lifetime: i as f32 * 1.5,
            expires_at: Instant(match i % 4 {
                0 => u64::MAX,
                1 => (1 << 56) - 2,
                2 => 0,
                _ => u64::from(i),
            }),
            sequence: (i * 257) as u16,
            flags: (i * 0x1234) as u16,
            sa_in: opt(1, 0x1000_0000 + i),
            sa_out: opt(2, 0xf000_0000 + i),
        });
    }
    let c = BindingCache::new();
    for x in &want {
        c.insert(*x).unwrap();
    }
    // Hits interleaved with misses (another /32), in batches longer than one chunk.
    let mut addrs = Vec::new();
    let mut expect = Vec::new();
    for x in &want {
        addrs.push(x.home_address);
        expect.push(Some(*x));
        addrs.push(Ipv6Addr::from(u128::from(x.home_address) ^ (1 << 96)));
        expect.push(None);
    }
    let (mut full, mut views, mut v6) = (Vec::new(), Vec::new(), Vec::new());
    c.get_batch(&addrs, &mut full);
    c.get_view_batch(&addrs, &mut views);
    assert_eq!(full, expect);
    assert_eq!(
        views
            .iter()
            .map(|v| v.map(|v| v.binding()))
            .collect::<Vec<_>>(),
        expect
    );
    for (a, x) in addrs.iter().zip(&expect) {
        assert_eq!(c.get(*a), *x, "get {a}");
    }
    // The exact-HoA answers through the longest-prefix batch (the /0 binding catches
    // the misses there).
    c.lookup_v6_batch(&addrs, &mut v6);
    for ((a, g), x) in addrs.iter().zip(&v6).zip(&expect) {
        if x.is_some() {
            assert_eq!(g, x, "lookup_v6_batch {a}");
        }
        assert_eq!(*g, c.lookup_v6(*a), "lookup_v6 {a}");
    }
    // The branch-free mask equals the bit-by-bit one for every length a record's byte
    // can hold (lengths past 128 read as 128, as `mask128` clamps them).
    for len in 0..=255u8 {
        let a = u128::MAX;
        assert_eq!(
            a & prefix_mask(len),
            prefix(a, u32::from(len.min(128))),
            "len {len}"
        );
        assert_eq!(prefix_mask(len), mask128(u128::MAX, len), "len {len}");
    }
}

/// Session 12 (a /64 binding has no HoA key: its exact-HoA lookups go through the /64
/// index): every exact-HoA path answers as a plain model of the bindings (a map by HoA),
/// and the longest-prefix lookups as the model's longest match: single and batch lookups,
/// views, `get_with`, `count`, `remove`, `update` (prefix lengths flipping 64 <-> 128 and
/// 80), and every insert path's duplicate check (`Exists` for a HoA held by a binding of
/// either kind, before any key conflict; a /128 HoA inside another binding's /64 allowed).
/// First /64 bindings only (the HoA index empty), then mixed.
#[test]
fn exact_hoa_paths_match_a_model() {
    use std::collections::BTreeMap;
    // Binding `id`'s other keys, with HoA `net`::`iid` and prefix length `len`.
    let mk = |id: u32, net: u32, iid: u16, len: u8| {
        let mut x = b(id);
        x.home_address = Ipv6Addr::new(0x2001, 0xdb8, (net >> 16) as u16, net as u16, 0, 0, 0, iid);
        x.prefix_len = len;
        x.home_prefix = Ipv6Addr::from(mask128(u128::from(x.home_address), len));
        x
    };
    let c = BindingCache::<u32>::new();
    let mut model: BTreeMap<u128, (Binding, u32)> = BTreeMap::new();
    let others = |x: &Binding| {
        keys_of(x)[1..]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
    };
    let clash = |model: &BTreeMap<u128, (Binding, u32)>, x: &Binding| {
        let mine = others(x);
        model.values().any(|(y, _)| {
            y.home_address != x.home_address && others(y).iter().any(|k| mine.contains(k))
        })
    };
    let model_insert = |model: &mut BTreeMap<u128, (Binding, u32)>, x: Binding, p: u32| {
        let a = u128::from(x.home_address);
        if model.contains_key(&a) {
            return Err(CacheError::Exists);
        }
        if clash(model, &x) {
            return Err(CacheError::KeyConflict);
        }
        model.insert(a, (x, p));
        Ok(())
    };
    // Inserts through the three paths in turn (single lean, batch, general), each result
    // against the model's.
    let mut step = 0u32;
    let mut insert_all = |c: &BindingCache<u32>,
                          model: &mut BTreeMap<u128, (Binding, u32)>,
                          xs: &[Binding]| {
        for group in xs.chunks(37) {
            let want: Vec<_> = group
                .iter()
                .map(|x| model_insert(model, *x, x.sequence.into()))
                .collect();
            step += 1;
            let got: Vec<_> = match step % 3 {
                0 => group
                    .iter()
                    .map(|x| c.insert_with(*x, x.sequence.into()))
                    .collect(),
                1 => {
                    let mut out = Vec::new();
                    c.insert_batch_with(group.iter().map(|x| (*x, x.sequence.into())), &mut out);
                    out
                }
                _ => group
                    .iter()
                    .map(|x| c.insert_general(*x, x.sequence.into()))
                    .collect(),
            };
            assert_eq!(got, want, "step {step}");
        }
    };
    let queries = |model: &BTreeMap<u128, (Binding, u32)>| {
        let mut q: Vec<Ipv6Addr> = Vec::new();
        for net in (0..2_400).chain(5_000..5_300).chain(9_000..9_300) {
            for iid in [0x1000, 0x2000, 0x3000] {
                q.push(Ipv6Addr::new(0x2001, 0xdb8, 0, net as u16, 0, 0, 0, iid));
            }
        }
        q.extend(model.values().map(|(x, _)| x.home_address));
        q
    };
    let lpm = |model: &BTreeMap<u128, (Binding, u32)>, a: u128| {
        if let Some((x, _)) = model.get(&a) {
            return Some(*x);
        }
        model
            .values()
            .filter(|(x, _)| {
                mask128(a, x.prefix_len) == mask128(u128::from(x.home_address), x.prefix_len)
            })
            .max_by_key(|(x, _)| x.prefix_len)
            .map(|(x, _)| *x)
    };
    let check = |c: &BindingCache<u32>, model: &BTreeMap<u128, (Binding, u32)>| {
        let q = queries(model);
        let (mut full, mut views, mut v6) = (Vec::new(), Vec::new(), Vec::new());
        c.get_batch(&q, &mut full);
        c.get_view_batch(&q, &mut views);
        c.lookup_v6_batch(&q, &mut v6);
        for (j, a) in q.iter().enumerate() {
            let want = model.get(&u128::from(*a)).copied();
            let wb = want.map(|(x, _)| x);
            assert_eq!(c.get(*a), wb, "get {a}");
            assert_eq!(full[j], wb, "get_batch {a}");
            assert_eq!(views[j].map(|v| v.binding()), wb, "get_view_batch {a}");
            assert_eq!(c.get_view(*a).map(|v| v.binding()), wb, "get_view {a}");
            assert_eq!(c.get_with(*a, |x, p| (*x, *p)), want, "get_with {a}");
            assert_eq!(c.count(*a, true, 1), want.is_some(), "count {a}");
            let l = lpm(model, u128::from(*a));
            assert_eq!(c.lookup_v6(*a), l, "lookup_v6 {a}");
            assert_eq!(v6[j], l, "lookup_v6_batch {a}");
            assert_eq!(c.lookup_v6_with(*a, |x, _| *x), l, "lookup_v6_with {a}");
        }
        let non64 = model.values().filter(|(x, _)| x.prefix_len != 64).count();
        assert_eq!(c.tables[0].len(), non64, "HoA index keys");
        assert_eq!((c.hoa.load(Ordering::Relaxed) & HOA_COUNT) as usize, non64);
        assert_eq!(c.hoa.load(Ordering::Relaxed) & HOA_MOVING, 0);
        assert_eq!(c.len(), model.len());
    };
    // /64 bindings only: the HoA index stays empty.
    let first: Vec<Binding> = (0..2_000).map(|i| mk(i, i, 0x1000, 64)).collect();
    insert_all(&c, &mut model, &first);
    assert_eq!(c.tables[0].len(), 0);
    check(&c, &model);
    // Mixed: /128 HoAs inside live /64s (allowed), /80 and /128 bindings of their own, then
    // HoAs held by the other kind (`Exists`, also with a key conflict), /64 conflicts.
    let mut second = Vec::new();
    for i in 0..300 {
        second.push(mk(10_000 + i, i, 0x2000, 128));
        second.push(mk(11_000 + i, 5_000 + i, 0x1000, 80));
        second.push(mk(12_000 + i, 9_000 + i, 0x1000, 128));
    }
    for i in 0..300 {
        // HoA of a /128 binding, as a /64 one (its /64 also taken): Exists.
        second.push(mk(13_000 + i, i, 0x2000, 64));
        // HoA of a /64 binding, as a /128 one (with binding 7's IPv4 HoA too): Exists.
        let mut x = mk(14_000 + i, i + 300, 0x1000, 128);
        x.ipv4_home_address = b(7).ipv4_home_address;
        second.push(x);
        // A /64 taken by another HoA: KeyConflict.
        second.push(mk(15_000 + i, i + 600, 0x3000, 64));
        // HoA of an /80 binding as a /64 one: Exists.
        second.push(mk(16_000 + i, 5_000 + i, 0x1000, 64));
    }
    insert_all(&c, &mut model, &second);
    check(&c, &model);
    // Updates: prefix lengths flipping 64 <-> 128 and 80 (moves between the indexes),
    // conflicts, unknown HoAs.
    for (n, &a) in model.clone().keys().enumerate() {
        let (x, _) = model[&a];
        let mut y = x;
        y.sequence = y.sequence.wrapping_add(1);
        y.prefix_len = match (n % 4, x.prefix_len) {
            (0, 64) => 128,
            (1, 64) => 80,
            (_, 64) => 64,
            _ => 64,
        };
        y.home_prefix = Ipv6Addr::from(mask128(a, y.prefix_len));
        let want = if clash(&model, &y) {
            Err(CacheError::KeyConflict)
        } else {
            model.insert(a, (y, u32::from(y.sequence)));
            Ok(())
        };
        assert_eq!(
            c.update_with(y, y.sequence.into()),
            want,
            "update {}",
            y.home_address
        );
    }
    assert_eq!(
        c.update_with(mk(1, 77_777, 1, 64), 0).err(),
        Some(CacheError::NotFound)
    );
    check(&c, &model);
    // Removals of present and absent HoAs, then the check again.
    for (n, a) in queries(&model).into_iter().enumerate().step_by(3) {
        let want = model.remove(&u128::from(a));
        let got = c.remove_with(a);
        assert_eq!(got.ok(), want, "remove {a} ({n})");
    }
    check(&c, &model);
    // Everything back as /64 bindings only: the HoA index empty again.
    let all: Vec<u128> = model.keys().copied().collect();
    for a in all {
        if model[&a].0.prefix_len != 64 {
            model.remove(&a);
            c.remove(Ipv6Addr::from(a)).unwrap();
        }
    }
    assert_eq!(c.hoa.load(Ordering::Relaxed) & HOA_COUNT, 0);
    check(&c, &model);
}

/// Session 12: readers never miss a present binding while the writer flips its prefix
/// length 64 <-> 128, which moves its HoA between the /64 index and the HoA index: single,
/// view, `get_with`, `count`, both exact batches and the longest-prefix batch, with the HoA
/// index empty most of the time (one binding at a time flips and flips back). Fails
/// without the move sequence's re-check (`hoa_settled`).
#[test]
fn exact_hoa_lookups_never_miss_a_binding_moving_between_indexes() {
    let c = Arc::new(BindingCache::<u32>::new());
    let flip = |i: u32, len: u8| {
        let mut x = b(i);
        x.prefix_len = len;
        x.home_prefix = Ipv6Addr::from(mask128(u128::from(x.home_address), len));
        x
    };
    for i in 0..2_000 {
        c.insert_with(b(i), i).unwrap();
    }
    let moving: Vec<u32> = (0..64).map(|j| j * 31).collect();
    let hoas: Vec<Ipv6Addr> = moving.iter().map(|&i| b(i).home_address).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (c, stop, hoas) = (Arc::clone(&c), Arc::clone(&stop), hoas.clone());
            std::thread::spawn(move || {
                let (mut out, mut views) = (Vec::new(), Vec::new());
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    out.clear();
                    views.clear();
                    if t == 0 {
                        c.get_view_batch(&hoas, &mut views);
                        c.get_batch(&hoas, &mut out);
                        for (a, (v, g)) in hoas.iter().zip(views.iter().zip(&out)) {
                            assert_eq!(v.map(|v| v.home_address()), Some(*a), "view batch");
                            assert_eq!(g.map(|g| g.home_address), Some(*a), "batch");
                        }
                    } else {
                        c.lookup_v6_batch(&hoas, &mut out);
                        for (a, g) in hoas.iter().zip(&out) {
                            assert_eq!(g.map(|g| g.home_address), Some(*a), "lpm batch");
                        }
                        for a in &hoas {
                            assert_eq!(c.get(*a).map(|g| g.home_address), Some(*a), "get");
                            assert!(c.get_view(*a).is_some(), "view");
                            assert!(c.get_with(*a, |_, _| ()).is_some(), "get_with");
                            assert!(c.count(*a, false, 1), "count");
                            assert!(c.lookup_v6(*a).is_some(), "lookup_v6");
                        }
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let t0 = std::time::Instant::now();
    let mut flips = 0u32;
    while t0.elapsed() < std::time::Duration::from_millis(1_500) {
        for &i in &moving {
            c.update_with(flip(i, 128), i).unwrap();
            c.update_with(flip(i, 64), i).unwrap();
            flips += 2;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 10);
    }
    assert!(flips > 1_000);
    assert_eq!(c.tables[0].len(), 0);
    assert_eq!(c.len(), 2_000);
}
