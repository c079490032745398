//! Big zero-initialised arrays of atomics in their own anonymous mappings, on 2 MiB
//! transparent huge pages when large (the binding cache is bound by TLB misses on a
//! virtualised host: one huge page covers 32 768 records, a 4 KiB page 64).
//!
//! The only `unsafe` of the cache lives here: `mmap`/`madvise`/`munmap`, the view of the
//! mapping as a slice of atomics, and a prefetch hint.

#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64};

/// Types whose all-zero bit pattern is a valid value and which are shared between threads
/// only through atomic operations.
///
/// # Safety
/// Implementors must be valid when zeroed, be `Sync`, and contain only atomics (so that the
/// kernel replacing a page by zeros, see [`Region::release`], is just another atomic store).
pub(super) unsafe trait Zeroable: Sync {}

// SAFETY: an atomic integer is valid at zero and is itself atomic.
unsafe impl Zeroable for AtomicU32 {}
// SAFETY: as above.
unsafe impl Zeroable for AtomicU64 {}
// SAFETY: arrays of zeroable atomics are zeroable atomics.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// `T` on its own 64-octet cache line.
#[repr(C, align(64))]
pub(super) struct Line<T>(pub(super) T);

// SAFETY: a wrapper adds only padding, which has no validity requirement.
unsafe impl<T: Zeroable> Zeroable for Line<T> {}

const PAGE: usize = 4096;
const HUGE: usize = 2 << 20;

/// An anonymous private mapping holding `len` zeroed `T`s.
pub(super) struct Region<T: Zeroable> {
    base: NonNull<u8>,
    map_len: usize,
    data: NonNull<T>,
    len: usize,
    _t: PhantomData<T>,
}

// SAFETY: the region owns its mapping; `T: Zeroable` is `Sync` and only ever accessed
// through shared references to atomics.
unsafe impl<T: Zeroable> Send for Region<T> {}
// SAFETY: as above.
unsafe impl<T: Zeroable> Sync for Region<T> {}

impl<T: Zeroable> Region<T> {
    /// Map `len` zeroed elements. Regions of 2 MiB or more are 2 MiB-aligned and advised to
    /// use huge pages from `huge_from` (an element index: the first elements of a region that
    /// may stay small keep 4 KiB pages, so a small cache costs little memory). Pages are
    /// only backed by memory once touched. Aborts like `Vec` when out of memory.
    pub(super) fn new(len: usize, huge_from: usize) -> Self {
        let size = core::mem::size_of::<T>();
        let bytes = len
            .checked_mul(size)
            .unwrap_or_else(|| alloc_failed(usize::MAX))
            .max(1)
            .next_multiple_of(PAGE);
        let align = if bytes >= HUGE { HUGE } else { PAGE };
        let map_len = bytes + (align - PAGE);
        // SAFETY: a fresh anonymous private mapping at an address of the kernel's choice; no
        // existing memory is affected. MAP_NORESERVE: large reservations are mostly untouched.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED || p.is_null() {
            alloc_failed(map_len);
        }
        let base = p.cast::<u8>();
        let off = (align - (base as usize) % align) % align;
        // SAFETY: `off < align` and `off + bytes <= map_len`, so the pointer stays inside the
        // mapping.
        let data = unsafe { base.add(off) };
        if align == HUGE {
            let from = (huge_from * size).next_multiple_of(HUGE).min(bytes);
            if from < bytes {
                // SAFETY: advice on a range inside our own mapping; it never changes contents.
                // Failure (THP disabled) only means 4 KiB pages.
                unsafe {
                    libc::madvise(data.add(from).cast(), bytes - from, libc::MADV_HUGEPAGE);
                }
            }
        }
        Self {
            // SAFETY: mmap succeeded, so `base` and `data` are not null.
            base: unsafe { NonNull::new_unchecked(base) },
            map_len,
            // SAFETY: as above; `data` is page-aligned, which satisfies any `T` used here.
            data: unsafe { NonNull::new_unchecked(data.cast::<T>()) },
            len,
            _t: PhantomData,
        }
    }

    #[inline]
    pub(super) fn as_slice(&self) -> &[T] {
        // SAFETY: the mapping holds `len` elements, zero-initialised (valid for `Zeroable`),
        // lives as long as `self`, is aligned, and is only mutated through atomics.
        unsafe { core::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }

    /// Give the pages back to the kernel while keeping the mapping: later reads see zeros.
    /// Used on retired index tables that racing readers may still be probing (they see empty
    /// slots, then notice the newer table and retry).
    pub(super) fn release(&self) {
        let bytes = (self.len * core::mem::size_of::<T>()).next_multiple_of(PAGE);
        // SAFETY: advice on our own mapping. MADV_DONTNEED on private anonymous memory makes
        // the pages read back as zeros, a valid value of every `Zeroable` (only atomics, so
        // concurrent readers observe either the old value or zero).
        unsafe {
            libc::madvise(self.data.as_ptr().cast(), bytes, libc::MADV_DONTNEED);
        }
    }
}

impl<T: Zeroable> Drop for Region<T> {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we created; `&mut self` means no reference
        // into it is alive.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.map_len);
        }
    }
}

fn alloc_failed(bytes: usize) -> ! {
    let layout = std::alloc::Layout::from_size_align(bytes.min(isize::MAX as usize), PAGE)
        .unwrap_or(std::alloc::Layout::new::<u8>());
    std::alloc::handle_alloc_error(layout)
}

/// Hint the CPU to fetch the cache line holding `p` (no effect on program state).
#[inline(always)]
fn hint<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is an SSE instruction (baseline on x86_64) and only a hint: it
    // never faults, whatever the address, and changes no architectural state.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Hint the CPU to fetch the cache line of `r` (no effect on program state).
#[inline(always)]
pub(super) fn prefetch<T>(r: &T) {
    hint(r);
}

/// Hint the CPU to fetch the cache line of element `i` of `s`, with no bounds check: the
/// address is only computed (`wrapping_add`, never dereferenced), and a prefetch of any
/// address, inside `s` or not, is harmless (the batch insert's homes are in bounds; this
/// saves their checks).
#[inline(always)]
pub(super) fn prefetch_at<T>(s: &[T], i: usize) {
    hint(s.as_ptr().wrapping_add(i));
}

/// Hint the CPU to fetch every cache line `s` spans, from the one holding its first octet
/// to the one holding its last (session 13: the batch insert's next group of bindings).
#[inline(always)]
pub(super) fn prefetch_lines<T>(s: &[T]) {
    let p = s.as_ptr().cast::<u8>();
    let lead = p as usize % 64;
    let first = p.wrapping_sub(lead);
    for off in (0..lead + core::mem::size_of_val(s)).step_by(64) {
        hint(first.wrapping_add(off));
    }
}

/// The 16 lanes of a bucket line (four aligned 16-octet loads), as the hardware reads them.
///
/// The line is shared with a writer that stores its lanes atomically; the loads run in
/// inline assembly, so they are hardware reads outside the language's data-race rules, and
/// x86 reads every naturally aligned 4-octet lane of an aligned SSE load in one access: each
/// lane is a value some writer stored (as a relaxed atomic load would give).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn load_line(l: &Line<[AtomicU32; 16]>) -> [core::arch::x86_64::__m128i; 4] {
    use core::arch::x86_64::__m128i;
    let (a, b, c, d): (__m128i, __m128i, __m128i, __m128i);
    // SAFETY: `l` is a live, 64-octet aligned line of 64 octets; the four MOVDQA read inside
    // it only, write nothing (no stack, flags kept).
    unsafe {
        core::arch::asm!(
            "movdqa {a}, xmmword ptr [{p}]",
            "movdqa {b}, xmmword ptr [{p} + 16]",
            "movdqa {c}, xmmword ptr [{p} + 32]",
            "movdqa {d}, xmmword ptr [{p} + 48]",
            p = in(reg) (l as *const Line<[AtomicU32; 16]>),
            a = out(xmm_reg) a,
            b = out(xmm_reg) b,
            c = out(xmm_reg) c,
            d = out(xmm_reg) d,
            options(nostack, preserves_flags, readonly),
        );
    }
    [a, b, c, d]
}

/// The 16 lanes' comparison results (all-ones or zero per 4-octet lane) packed to one bit
/// per lane, bit `i` for lane `i` (two saturating packs, then one byte mask).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unused_unsafe)]
fn lane_bits(e: [core::arch::x86_64::__m128i; 4]) -> u32 {
    use core::arch::x86_64::{_mm_movemask_epi8, _mm_packs_epi16, _mm_packs_epi32};
    // SAFETY: SSE2 register-only intrinsics; SSE2 is part of the x86_64 baseline.
    unsafe {
        // -1 and 0 stay -1 and 0 through the signed saturating packs, lanes in order.
        let p = _mm_packs_epi16(_mm_packs_epi32(e[0], e[1]), _mm_packs_epi32(e[2], e[3]));
        _mm_movemask_epi8(p) as u32
    }
}

/// Which of lanes 0..15 of a bucket line are non-zero with `lane & hi_mask == tag` (bit `i`
/// for lane `i`), and lane 15 (the overflow count), from one read of the line.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unused_unsafe)]
pub(super) fn scan_line(l: &Line<[AtomicU32; 16]>, hi_mask: u32, tag: u32) -> (u32, u32) {
    use core::arch::x86_64::{
        _mm_and_si128, _mm_cmpeq_epi32, _mm_cvtsi128_si32, _mm_set1_epi32, _mm_setzero_si128,
        _mm_shuffle_epi32,
    };
    let lanes = load_line(l);
    // SAFETY: SSE2 register-only intrinsics; SSE2 is part of the x86_64 baseline.
    unsafe {
        let m = _mm_set1_epi32(hi_mask as i32);
        let t = _mm_set1_epi32(tag as i32);
        let mut bits = lane_bits(lanes.map(|v| _mm_cmpeq_epi32(_mm_and_si128(v, m), t)));
        // A non-zero tag matches no empty lane; a zero one (1 key in 2^(32 - id bits))
        // would match them all: drop the empty lanes then.
        if tag == 0 {
            let z = _mm_setzero_si128();
            bits &= !lane_bits(lanes.map(|v| _mm_cmpeq_epi32(v, z)));
        }
        let overflow = _mm_cvtsi128_si32(_mm_shuffle_epi32::<0xff>(lanes[3])) as u32;
        (bits & 0x7fff, overflow)
    }
}

/// The writer's scan of a bucket line (lean batch insert, session 10): from one read of
/// the line, which of lanes 0..15 hold `tag` under `hi_mask` (non-empty ones only), which
/// are empty (bit `i` for lane `i` in both), and lane 15 (the overflow count). Replaces a
/// [`scan_line`] for the duplicate check followed by an [`empty_lanes`] for the placement.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unused_unsafe)]
pub(super) fn scan_line_free(l: &Line<[AtomicU32; 16]>, hi_mask: u32, tag: u32) -> (u32, u32, u32) {
    use core::arch::x86_64::{
        _mm_and_si128, _mm_cmpeq_epi32, _mm_cvtsi128_si32, _mm_set1_epi32, _mm_setzero_si128,
        _mm_shuffle_epi32,
    };
    let lanes = load_line(l);
    // SAFETY: SSE2 register-only intrinsics; SSE2 is part of the x86_64 baseline.
    unsafe {
        let m = _mm_set1_epi32(hi_mask as i32);
        let t = _mm_set1_epi32(tag as i32);
        let z = _mm_setzero_si128();
        let empty = lane_bits(lanes.map(|v| _mm_cmpeq_epi32(v, z))) & 0x7fff;
        // An empty lane matches a zero tag: dropped (no branch on the tag).
        let tags = lane_bits(lanes.map(|v| _mm_cmpeq_epi32(_mm_and_si128(v, m), t))) & !empty;
        let overflow = _mm_cvtsi128_si32(_mm_shuffle_epi32::<0xff>(lanes[3])) as u32;
        (tags & 0x7fff, empty, overflow)
    }
}

/// Portable version of the x86_64 writer's scan.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(super) fn scan_line_free(l: &Line<[AtomicU32; 16]>, hi_mask: u32, tag: u32) -> (u32, u32, u32) {
    let (tags, overflow) = scan_line(l, hi_mask, tag);
    (tags, empty_lanes(l), overflow)
}

/// Which of lanes 0..15 of a bucket line are zero (empty slots), bit `i` for lane `i`, from
/// one read of the line.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unused_unsafe)]
pub(super) fn empty_lanes(l: &Line<[AtomicU32; 16]>) -> u32 {
    use core::arch::x86_64::{_mm_cmpeq_epi32, _mm_setzero_si128};
    let lanes = load_line(l);
    // SAFETY: SSE2 register-only intrinsics; SSE2 is part of the x86_64 baseline.
    let z = unsafe { _mm_setzero_si128() };
    // SAFETY: as above.
    lane_bits(lanes.map(|v| unsafe { _mm_cmpeq_epi32(v, z) })) & 0x7fff
}

/// Portable version of the x86_64 empty-lane scan.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(super) fn empty_lanes(l: &Line<[AtomicU32; 16]>) -> u32 {
    use core::sync::atomic::Ordering;
    let mut bits = 0u32;
    for (i, s) in l.0[..15].iter().enumerate() {
        bits |= u32::from(s.load(Ordering::Relaxed) == 0) << i;
    }
    bits
}

/// Portable version of the x86_64 lane scan (relaxed atomic loads).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(super) fn scan_line(l: &Line<[AtomicU32; 16]>, hi_mask: u32, tag: u32) -> (u32, u32) {
    use core::sync::atomic::Ordering;
    let mut bits = 0u32;
    for (i, s) in l.0[..15].iter().enumerate() {
        let v = s.load(Ordering::Relaxed);
        bits |= u32::from(v != 0 && v & hi_mask == tag) << i;
    }
    (bits, l.0[15].load(Ordering::Relaxed))
}
