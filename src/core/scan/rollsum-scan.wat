;; The matcher's rolling scan (rollsum indexes; RabinKarp ones at the end), hand-written WebAssembly (assembled by
;; scripts/build-wasm.ts into rollsum-scan-wasm.ts; test/core/scan checks the two agree).
;;
;; It does what the JavaScript loop of Scanner.#scan does between two interesting windows:
;; roll the two block windows (a0/b0 over buf[x, x+bs), a1/b1 over buf[x+bs, x+2bs)), mix
;; their weak sums into the lookup key, test the key's bit in the filter and, on a filter
;; hit, walk the table's chain for an entry with exactly that key. It stops at the first
;; window whose key is in the table (the caller then looks it up as before) or at the
;; window `stop` (not looked at). A filter hit whose key is not in the table is what the
;; caller's lookup would reject without touching any statistic, so skipping it here gives
;; the same matches.
;;
;; The sums are kept modulo 2^16, which i16x8 lanes do for free: eight windows are rolled
;; at once from the three 8-byte runs (leaving, moving, entering) by prefix sums, their
;; keys computed in i32x4 lanes, and the eight filter tests ANDed and ORed together
;; without a branch; only a block of eight with a filter hit is redone one window at a
;; time.
;;
;; The filter is this module's own, built by the caller from the table's keys: a 32-bit
;; word chosen by the key's top bits, in which each key sets two bits (its bits 0-4 and
;; 5-9 say which). One load per window as with the matcher's one-bit filter, but about 10
;; times fewer false hits (each costs two cache misses in the chain heads and keys).
;;
;; Memory (imported, owned by one scanner): [0, 32) the sums in and out and the stop
;; flag, [32, 64) eight keys; the filter from 64; then the chain heads, next and keys; then the scan buffer.
;; setup() records where.

(module
  (import "e" "m" (memory 1))
  (global $wshift (mut i32) (i32.const 0))
  (global $tshift (mut i32) (i32.const 0))
  (global $heads (mut i32) (i32.const 0))
  (global $next (mut i32) (i32.const 0))
  (global $keys (mut i32) (i32.const 0))
  (global $mask (mut i32) (i32.const 0))
  (global $mask1 (mut i32) (i32.const 0))
  (global $n (mut i32) (i32.const 0))
  (global $bs (mut i32) (i32.const 0))
  (global $buf (mut i32) (i32.const 0))
  (global $rkpow (mut i32) (i32.const 0))

  ;; wshift: 32 minus the bits of a filter word's number; tshift: the same for the chain
  ;; heads; heads, next, keys, buf: where they start; mask, mask1: the weak sums' masks
  ;; (mask1 0 without pairs); bs: the block size.
  (func (export "setup")
    (param $wshift i32) (param $tshift i32) (param $heads i32) (param $next i32) (param $keys i32)
    (param $mask i32) (param $mask1 i32) (param $bs i32) (param $buf i32)
    (global.set $wshift (local.get $wshift))
    (global.set $tshift (local.get $tshift))
    (global.set $heads (local.get $heads))
    (global.set $next (local.get $next))
    (global.set $keys (local.get $keys))
    (global.set $mask (local.get $mask))
    (global.set $mask1 (local.get $mask1))
    (global.set $n (i32.and (local.get $bs) (i32.const 0xffff)))
    (global.set $bs (local.get $bs))
    (global.set $buf (local.get $buf)))

  ;; RabinKarp indexes: M^bs, the factor of the byte leaving the window.
  (func (export "setupRabinKarp") (param $pow i32)
    (global.set $rkpow (local.get $pow)))

  ;; Inclusive prefix sum of the eight i16 lanes.
  (func $prefix (param $v v128) (result v128)
    (local.set $v (i16x8.add (local.get $v)
      (i8x16.shuffle 16 16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 (local.get $v) (v128.const i64x2 0 0))))
    (local.set $v (i16x8.add (local.get $v)
      (i8x16.shuffle 16 16 16 16 0 1 2 3 4 5 6 7 8 9 10 11 (local.get $v) (v128.const i64x2 0 0))))
    (i16x8.add (local.get $v)
      (i8x16.shuffle 16 16 16 16 16 16 16 16 0 1 2 3 4 5 6 7 (local.get $v) (v128.const i64x2 0 0))))

  ;; The lanes moved up by one (lane 0 zero): an exclusive prefix from an inclusive one.
  (func $up1 (param $v v128) (result v128)
    (i8x16.shuffle 16 16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 (local.get $v) (v128.const i64x2 0 0)))

  ;; The filter test of four keys, ORed into bit 0 (the other bits are noise): a word's
  ;; bits k & 31 and (k >> 5) & 31 (i32.shr_u takes its count modulo 32).
  (func $filter4 (param $key v128) (param $wshift i32) (result i32)
    (local $idx v128) (local $w i32) (local $k i32)
    (local.set $idx (i32x4.shl (i32x4.shr_u (local.get $key) (local.get $wshift)) (i32.const 2)))
    (i32.or
      (i32.or
        (i32.and
          (i32.shr_u (local.tee $w (i32.load offset=64 (i32x4.extract_lane 0 (local.get $idx))))
            (local.tee $k (i32x4.extract_lane 0 (local.get $key))))
          (i32.shr_u (local.get $w) (i32.shr_u (local.get $k) (i32.const 5))))
        (i32.and
          (i32.shr_u (local.tee $w (i32.load offset=64 (i32x4.extract_lane 1 (local.get $idx))))
            (local.tee $k (i32x4.extract_lane 1 (local.get $key))))
          (i32.shr_u (local.get $w) (i32.shr_u (local.get $k) (i32.const 5)))))
      (i32.or
        (i32.and
          (i32.shr_u (local.tee $w (i32.load offset=64 (i32x4.extract_lane 2 (local.get $idx))))
            (local.tee $k (i32x4.extract_lane 2 (local.get $key))))
          (i32.shr_u (local.get $w) (i32.shr_u (local.get $k) (i32.const 5))))
        (i32.and
          (i32.shr_u (local.tee $w (i32.load offset=64 (i32x4.extract_lane 3 (local.get $idx))))
            (local.tee $k (i32x4.extract_lane 3 (local.get $key))))
          (i32.shr_u (local.get $w) (i32.shr_u (local.get $k) (i32.const 5)))))))

  ;; 1 when key h is in the table (its chain holds an entry with exactly that key).
  (func $inTable (param $h i32) (result i32)
    (local $e i32)
    (local.set $e (i32.load (i32.add (global.get $heads)
      (i32.shl (i32.shr_u (local.get $h) (global.get $tshift)) (i32.const 2)))))
    (block $absent
      (loop $chain
        (br_if $absent (i32.lt_s (local.get $e) (i32.const 0)))
        (if (i32.eq (i32.load (i32.add (global.get $keys) (i32.shl (local.get $e) (i32.const 2)))) (local.get $h))
          (then (return (i32.const 1))))
        (local.set $e (i32.load (i32.add (global.get $next) (i32.shl (local.get $e) (i32.const 2)))))
        (br $chain)))
    (i32.const 0))

  ;; Scans windows x.. of the buffer with the sums at [0, 16) (a0, b0, a1, b1) valid for
  ;; window x. Returns the window where it stopped, its sums at [0, 16) and at [16] 1 when
  ;; that window's key is in the table (the window is not looked at further), 0 when it
  ;; is `stop` (not looked at). `stop` is at most the last window the buffer holds.
  (func (export "scan") (param $x i32) (param $stop i32) (result i32)
    (local $a0 i32) (local $b0 i32) (local $a1 i32) (local $b1 i32)
    (local $p i32) (local $end i32) (local $h i32) (local $e i32) (local $out i32) (local $mid i32)
    (local $bs i32) (local $bs2 i32) (local $wshift i32)
    (local $vout v128) (local $vmid v128) (local $vin v128)
    (local $p0 v128) (local $p1 v128) (local $q0 v128) (local $q1 v128)
    (local $va0 v128) (local $vb0 v128) (local $va1 v128) (local $vb1 v128)
    (local $vn v128) (local $vmask v128) (local $vmask1 v128) (local $ms v128) (local $mk v128)
    (local $klo v128) (local $khi v128)
    (local.set $a0 (i32.load (i32.const 0)))
    (local.set $b0 (i32.load (i32.const 4)))
    (local.set $a1 (i32.load (i32.const 8)))
    (local.set $b1 (i32.load (i32.const 12)))
    (local.set $bs (global.get $bs))
    (local.set $bs2 (i32.shl (global.get $bs) (i32.const 1)))
    (local.set $wshift (global.get $wshift))
    (local.set $vn (i16x8.splat (global.get $n)))
    (local.set $vmask (i32x4.splat (global.get $mask)))
    (local.set $vmask1 (i32x4.splat (global.get $mask1)))
    (local.set $ms (i32x4.splat (i32.const 0x9e3779b1)))
    (local.set $mk (i32x4.splat (i32.const 0x85ebca6b)))
    (local.set $p (i32.add (global.get $buf) (local.get $x)))
    (i32.store (i32.const 16) (i32.const 0))
    (block $done
      (loop $outer
        ;; Eight windows x..x+7 at a time while they all come before `stop`.
        (block $one
          (loop $eight
            (br_if $one (i32.gt_s (i32.add (local.get $x) (i32.const 8)) (local.get $stop)))
            (local.set $vout (v128.load8x8_u (local.get $p)))
            (local.set $vmid (v128.load8x8_u (i32.add (local.get $p) (local.get $bs))))
            (local.set $vin (v128.load8x8_u (i32.add (local.get $p) (local.get $bs2))))
            ;; p0[k]: a0 of window x+k+1 minus a0 of window x; q0[k]: the same for b0.
            (local.set $p0 (call $prefix (i16x8.sub (local.get $vmid) (local.get $vout))))
            (local.set $p1 (call $prefix (i16x8.sub (local.get $vin) (local.get $vmid))))
            (local.set $va0 (i16x8.splat (local.get $a0)))
            (local.set $va1 (i16x8.splat (local.get $a1)))
            (local.set $q0 (call $prefix (i16x8.sub (i16x8.add (local.get $va0) (local.get $p0))
              (i16x8.mul (local.get $vn) (local.get $vout)))))
            (local.set $q1 (call $prefix (i16x8.sub (i16x8.add (local.get $va1) (local.get $p1))
              (i16x8.mul (local.get $vn) (local.get $vmid)))))
            ;; The sums of windows x..x+7.
            (local.set $vb0 (i16x8.add (i16x8.splat (local.get $b0)) (call $up1 (local.get $q0))))
            (local.set $vb1 (i16x8.add (i16x8.splat (local.get $b1)) (call $up1 (local.get $q1))))
            (local.set $va0 (i16x8.add (local.get $va0) (call $up1 (local.get $p0))))
            (local.set $va1 (i16x8.add (local.get $va1) (call $up1 (local.get $p1))))
            ;; Keys of windows x..x+3 then x+4..x+7: w = (a << 16 | b) & mask, mixed.
            ;; The keys of windows x..x+3 and x+4..x+7: w = (a << 16 | b) & mask, mixed.
            (local.set $klo (i32x4.mul
              (v128.xor
                (v128.and (local.get $vmask)
                  (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $vb0) (local.get $va0)))
                (i32x4.mul (local.get $ms) (v128.and (local.get $vmask1)
                  (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $vb1) (local.get $va1)))))
              (local.get $mk)))
            (local.set $khi (i32x4.mul
              (v128.xor
                (v128.and (local.get $vmask)
                  (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $vb0) (local.get $va0)))
                (i32x4.mul (local.get $ms) (v128.and (local.get $vmask1)
                  (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $vb1) (local.get $va1)))))
              (local.get $mk)))
            (if (i32.and (i32.const 1) (i32.or
                  (call $filter4 (local.get $klo) (local.get $wshift))
                  (call $filter4 (local.get $khi) (local.get $wshift))))
              (then
                ;; A filter hit among the eight (5% of blocks on random data): look the keys
                ;; that pass the filter up in the table, here, from the keys already mixed.
                ;; Only a key in the table goes to the one-window loop. (Taking the eight
                ;; windows one at a time again instead: 4.0-4.6 against 3.4-4.2 ns/byte,
                ;; 64 MiB of random data, a 32,768-block index, CPU time, min of 8 runs.)
                (v128.store (i32.const 32) (local.get $klo))
                (v128.store (i32.const 48) (local.get $khi))
                (local.set $e (i32.const 32))
                (loop $lanes
                  (local.set $h (i32.load (local.get $e)))
                  (local.set $out (i32.load offset=64
                    (i32.shl (i32.shr_u (local.get $h) (local.get $wshift)) (i32.const 2))))
                  (if (i32.and (i32.const 1) (i32.and
                        (i32.shr_u (local.get $out) (local.get $h))
                        (i32.shr_u (local.get $out) (i32.shr_u (local.get $h) (i32.const 5)))))
                    (then (br_if $one (call $inTable (local.get $h)))))
                  (local.set $e (i32.add (local.get $e) (i32.const 4)))
                  (br_if $lanes (i32.lt_u (local.get $e) (i32.const 64))))))
            ;; No filter hit among the eight: on to window x+8.
            (local.set $a0 (i32.add (local.get $a0) (i16x8.extract_lane_u 7 (local.get $p0))))
            (local.set $a1 (i32.add (local.get $a1) (i16x8.extract_lane_u 7 (local.get $p1))))
            (local.set $b0 (i32.add (local.get $b0) (i16x8.extract_lane_u 7 (local.get $q0))))
            (local.set $b1 (i32.add (local.get $b1) (i16x8.extract_lane_u 7 (local.get $q1))))
            (local.set $x (i32.add (local.get $x) (i32.const 8)))
            (local.set $p (i32.add (local.get $p) (i32.const 8)))
            (br $eight)))
        ;; One window at a time: the eight with a filter hit, or the last ones before `stop`.
        (local.set $end (i32.add (local.get $x) (i32.const 8)))
        (loop $single
          (br_if $done (i32.eq (local.get $x) (local.get $stop)))
          (local.set $h (i32.mul
            (i32.xor
              (i32.and (global.get $mask)
                (i32.or (i32.shl (local.get $a0) (i32.const 16)) (i32.and (local.get $b0) (i32.const 0xffff))))
              (i32.mul
                (i32.and (global.get $mask1)
                  (i32.or (i32.shl (local.get $a1) (i32.const 16)) (i32.and (local.get $b1) (i32.const 0xffff))))
                (i32.const 0x9e3779b1)))
            (i32.const 0x85ebca6b)))
          (local.set $e (i32.load offset=64
            (i32.shl (i32.shr_u (local.get $h) (local.get $wshift)) (i32.const 2))))
          (if (i32.and (i32.const 1) (i32.and
                (i32.shr_u (local.get $e) (local.get $h))
                (i32.shr_u (local.get $e) (i32.shr_u (local.get $h) (i32.const 5)))))
            (then
              ;; A filter hit: is the key in the table?
              (if (call $inTable (local.get $h))
                (then
                  (i32.store (i32.const 16) (i32.const 1))
                  (br $done)))))
          ;; Roll: buf[x] leaves window 0, buf[x+bs] moves to window 0, buf[x+2bs] enters window 1.
          (local.set $out (i32.load8_u (local.get $p)))
          (local.set $mid (i32.load8_u (i32.add (local.get $p) (local.get $bs))))
          (local.set $a0 (i32.sub (i32.add (local.get $a0) (local.get $mid)) (local.get $out)))
          (local.set $b0 (i32.sub (i32.add (local.get $b0) (local.get $a0)) (i32.mul (global.get $n) (local.get $out))))
          (local.set $a1 (i32.sub (i32.add (local.get $a1) (i32.load8_u (i32.add (local.get $p) (local.get $bs2))))
            (local.get $mid)))
          (local.set $b1 (i32.sub (i32.add (local.get $b1) (local.get $a1)) (i32.mul (global.get $n) (local.get $mid))))
          (local.set $x (i32.add (local.get $x) (i32.const 1)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br_if $single (i32.lt_s (local.get $x) (local.get $end))))
        (br $outer)))
    (i32.store (i32.const 0) (i32.and (local.get $a0) (i32.const 0xffff)))
    (i32.store (i32.const 4) (i32.and (local.get $b0) (i32.const 0xffff)))
    (i32.store (i32.const 8) (i32.and (local.get $a1) (i32.const 0xffff)))
    (i32.store (i32.const 12) (i32.and (local.get $b1) (i32.const 0xffff)))
    (local.get $x))
;; The same for RabinKarp weak sums (librsync's, one window, no pairs): the sum of
  ;; window x at [0], h' = h·M + in − M^bs·(out + ADJ) (rabin-karp.ts), the key
  ;; (h & mask)·MIX_KEY. One window at a time: this roll does not split into lanes as
  ;; cheaply as the rollsum's.
  (func (export "scanRabinKarp") (param $x i32) (param $stop i32) (result i32)
    (local $h i32) (local $p i32) (local $k i32) (local $w i32) (local $bs i32) (local $wshift i32)
    (local $mask i32) (local $pow i32)
    (local.set $h (i32.load (i32.const 0)))
    (local.set $bs (global.get $bs))
    (local.set $wshift (global.get $wshift))
    (local.set $mask (global.get $mask))
    (local.set $pow (global.get $rkpow))
    (local.set $p (i32.add (global.get $buf) (local.get $x)))
    (i32.store (i32.const 16) (i32.const 0))
    (block $done
      (loop $one
        (br_if $done (i32.eq (local.get $x) (local.get $stop)))
        (local.set $k (i32.mul (i32.and (local.get $h) (local.get $mask)) (i32.const 0x85ebca6b)))
        (local.set $w (i32.load offset=64 (i32.shl (i32.shr_u (local.get $k) (local.get $wshift)) (i32.const 2))))
        (if (i32.and (i32.const 1) (i32.and
              (i32.shr_u (local.get $w) (local.get $k))
              (i32.shr_u (local.get $w) (i32.shr_u (local.get $k) (i32.const 5)))))
          (then
            (if (call $inTable (local.get $k))
              (then
                (i32.store (i32.const 16) (i32.const 1))
                (br $done)))))
        (local.set $h (i32.sub
          (i32.add (i32.mul (local.get $h) (i32.const 0x08104225)) (i32.load8_u (i32.add (local.get $p) (local.get $bs))))
          (i32.mul (local.get $pow) (i32.add (i32.load8_u (local.get $p)) (i32.const 0x08104224)))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $one)))
    (i32.store (i32.const 0) (local.get $h))
    (local.get $x))
;; Rolls the sums at [0, 16) from window x to window `stop` without looking at any
  ;; window: for a scan whose strong-hash budget is spent, where the caller looks up no
  ;; key (only the predicted windows, at which it stops).
  (func (export "roll") (param $x i32) (param $stop i32) (result i32)
    (local $a0 i32) (local $b0 i32) (local $a1 i32) (local $b1 i32) (local $p i32) (local $end i32)
    (local $out i32) (local $mid i32) (local $bs i32) (local $bs2 i32) (local $n i32)
    (local.set $a0 (i32.load (i32.const 0)))
    (local.set $b0 (i32.load (i32.const 4)))
    (local.set $a1 (i32.load (i32.const 8)))
    (local.set $b1 (i32.load (i32.const 12)))
    (local.set $bs (global.get $bs))
    (local.set $bs2 (i32.shl (global.get $bs) (i32.const 1)))
    (local.set $n (global.get $n))
    (local.set $p (i32.add (global.get $buf) (local.get $x)))
    (local.set $end (i32.add (global.get $buf) (local.get $stop)))
    (i32.store (i32.const 16) (i32.const 0))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $out (i32.load8_u (local.get $p)))
        (local.set $mid (i32.load8_u (i32.add (local.get $p) (local.get $bs))))
        (local.set $a0 (i32.sub (i32.add (local.get $a0) (local.get $mid)) (local.get $out)))
        (local.set $b0 (i32.sub (i32.add (local.get $b0) (local.get $a0)) (i32.mul (local.get $n) (local.get $out))))
        (local.set $a1 (i32.sub (i32.add (local.get $a1) (i32.load8_u (i32.add (local.get $p) (local.get $bs2))))
          (local.get $mid)))
        (local.set $b1 (i32.sub (i32.add (local.get $b1) (local.get $a1)) (i32.mul (local.get $n) (local.get $mid))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $one)))
    (i32.store (i32.const 0) (i32.and (local.get $a0) (i32.const 0xffff)))
    (i32.store (i32.const 4) (i32.and (local.get $b0) (i32.const 0xffff)))
    (i32.store (i32.const 8) (i32.and (local.get $a1) (i32.const 0xffff)))
    (i32.store (i32.const 12) (i32.and (local.get $b1) (i32.const 0xffff)))
    (local.get $stop))

  ;; The same for RabinKarp sums (the sum at [0]).
  (func (export "rollRabinKarp") (param $x i32) (param $stop i32) (result i32)
    (local $h i32) (local $p i32) (local $end i32) (local $bs i32) (local $pow i32)
    (local.set $h (i32.load (i32.const 0)))
    (local.set $bs (global.get $bs))
    (local.set $pow (global.get $rkpow))
    (local.set $p (i32.add (global.get $buf) (local.get $x)))
    (local.set $end (i32.add (global.get $buf) (local.get $stop)))
    (i32.store (i32.const 16) (i32.const 0))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h (i32.sub
          (i32.add (i32.mul (local.get $h) (i32.const 0x08104225)) (i32.load8_u (i32.add (local.get $p) (local.get $bs))))
          (i32.mul (local.get $pow) (i32.add (i32.load8_u (local.get $p)) (i32.const 0x08104224)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $one)))
    (i32.store (i32.const 0) (local.get $h))
    (local.get $stop))
)
