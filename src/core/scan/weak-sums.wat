;; Weak checksums (rollsum, as src/core/rollsum.ts defines it) of whole blocks, 16 bytes
;; per step in SIMD lanes: the index builder's weak sums.
;;
;; For a block x[0..n-1]: a = Σ x[i], b = Σ (n - i)·x[i] = n·a - W with W = Σ i·x[i].
;; With i = 16t + k (t the 16-byte step, k the lane): W = 16·Σ t·S_t + Σ k·x[16t+k], where
;; S_t is step t's byte sum. Per step, $vp adds the sums of the steps before ($va), so
;; Σ_t (m-1-t)·S_t = P and Σ t·S_t = (m-1)·a - P (m steps); $vk takes the lane-weighted
;; sums (dot products with the weights 0..15). Everything wraps at 2^32, which keeps the
;; low 16 bits the checksum uses exact.
;;
;; sums(p, count, bs, out): the checksums ((a << 16 | b) & 0xffffffff) of the `count`
;; blocks of `bs` bytes (a multiple of 16) at p, as 32-bit words from out.
(module
  (memory (export "memory") 1)
  (func (export "sums") (param $p i32) (param $count i32) (param $bs i32) (param $out i32)
    (local $end i32) (local $stop i32) (local $x v128) (local $lo v128) (local $hi v128)
    (local $va v128) (local $vp v128) (local $vk v128) (local $wlo v128) (local $whi v128)
    (local $a i32) (local $pp i32) (local $k i32) (local $m1 i32)
    (local.set $wlo (v128.const i16x8 0 1 2 3 4 5 6 7))
    (local.set $whi (v128.const i16x8 8 9 10 11 12 13 14 15))
    (local.set $m1 (i32.sub (i32.shr_u (local.get $bs) (i32.const 4)) (i32.const 1)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $va (v128.const i32x4 0 0 0 0))
        (local.set $vp (v128.const i32x4 0 0 0 0))
        (local.set $vk (v128.const i32x4 0 0 0 0))
        (local.set $stop (i32.add (local.get $p) (local.get $bs)))
        (loop $steps
          (local.set $vp (i32x4.add (local.get $vp) (local.get $va)))
          (local.set $x (v128.load (local.get $p)))
          (local.set $lo (i16x8.extend_low_i8x16_u (local.get $x)))
          (local.set $hi (i16x8.extend_high_i8x16_u (local.get $x)))
          (local.set $va (i32x4.add (local.get $va)
            (i32x4.extadd_pairwise_i16x8_u (i16x8.add (local.get $lo) (local.get $hi)))))
          (local.set $vk (i32x4.add (local.get $vk)
            (i32x4.add (i32x4.dot_i16x8_s (local.get $lo) (local.get $wlo))
                       (i32x4.dot_i16x8_s (local.get $hi) (local.get $whi)))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $steps (i32.lt_u (local.get $p) (local.get $stop))))
        (local.set $a (i32.add
          (i32.add (i32x4.extract_lane 0 (local.get $va)) (i32x4.extract_lane 1 (local.get $va)))
          (i32.add (i32x4.extract_lane 2 (local.get $va)) (i32x4.extract_lane 3 (local.get $va)))))
        (local.set $pp (i32.add
          (i32.add (i32x4.extract_lane 0 (local.get $vp)) (i32x4.extract_lane 1 (local.get $vp)))
          (i32.add (i32x4.extract_lane 2 (local.get $vp)) (i32x4.extract_lane 3 (local.get $vp)))))
        (local.set $k (i32.add
          (i32.add (i32x4.extract_lane 0 (local.get $vk)) (i32x4.extract_lane 1 (local.get $vk)))
          (i32.add (i32x4.extract_lane 2 (local.get $vk)) (i32x4.extract_lane 3 (local.get $vk)))))
        ;; b = bs·a - (16·((m-1)·a - P) + K)
        (i32.store (local.get $out)
          (i32.or
            (i32.shl (local.get $a) (i32.const 16))
            (i32.and (i32.const 0xffff)
              (i32.sub (i32.mul (local.get $bs) (local.get $a))
                (i32.add (i32.shl (i32.sub (i32.mul (local.get $m1) (local.get $a)) (local.get $pp)) (i32.const 4))
                  (local.get $k))))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $blocks))))
  ;; RabinKarp checksums (librsync's, as src/core/rabin-karp.ts defines them) of whole blocks:
  ;; h = SEED·M^n + Σ x[i]·M^(n-1-i). Sixteen Horner chains with the multiplier M^16, one per
  ;; byte position modulo 16 (lane k of $a<q> holds position 4q + k), so the multiplications
  ;; do not wait on each other; chain r is then weighed by M^(15-r) and the chains summed.
  ;;
  ;; rkSums(p, count, bs, out, seedPow, w): as sums, with bs a multiple of 16; seedPow is
  ;; SEED·M^bs; at w, four i32x4 of weights (M^(15-4q-k) for q = 0..3, lane k), then M^16.
  (func (export "rkSums") (param $p i32) (param $count i32) (param $bs i32) (param $out i32)
    (param $seedPow i32) (param $w i32)
    (local $end i32) (local $stop i32) (local $x v128) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $m16 v128) (local $s v128)
    (local.set $m16 (i32x4.splat (i32.load offset=64 (local.get $w))))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $stop (i32.add (local.get $p) (local.get $bs)))
        (loop $steps
          (local.set $x (v128.load (local.get $p)))
          (local.set $lo (i16x8.extend_low_i8x16_u (local.get $x)))
          (local.set $hi (i16x8.extend_high_i8x16_u (local.get $x)))
          (local.set $a0 (i32x4.add (i32x4.mul (local.get $a0) (local.get $m16)) (i32x4.extend_low_i16x8_u (local.get $lo))))
          (local.set $a1 (i32x4.add (i32x4.mul (local.get $a1) (local.get $m16)) (i32x4.extend_high_i16x8_u (local.get $lo))))
          (local.set $a2 (i32x4.add (i32x4.mul (local.get $a2) (local.get $m16)) (i32x4.extend_low_i16x8_u (local.get $hi))))
          (local.set $a3 (i32x4.add (i32x4.mul (local.get $a3) (local.get $m16)) (i32x4.extend_high_i16x8_u (local.get $hi))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $steps (i32.lt_u (local.get $p) (local.get $stop))))
        (local.set $s (i32x4.add
          (i32x4.add (i32x4.mul (local.get $a0) (v128.load (local.get $w)))
                     (i32x4.mul (local.get $a1) (v128.load offset=16 (local.get $w))))
          (i32x4.add (i32x4.mul (local.get $a2) (v128.load offset=32 (local.get $w)))
                     (i32x4.mul (local.get $a3) (v128.load offset=48 (local.get $w))))))
        (i32.store (local.get $out)
          (i32.add (local.get $seedPow)
            (i32.add
              (i32.add (i32x4.extract_lane 0 (local.get $s)) (i32x4.extract_lane 1 (local.get $s)))
              (i32.add (i32x4.extract_lane 2 (local.get $s)) (i32x4.extract_lane 3 (local.get $s))))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $blocks)))))
