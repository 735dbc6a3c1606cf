/// The last 32 (standardized-by-time) returns of one series, kept inline, plus what the two window detectors need:
/// running sums over the last `rollingWindow` returns (rolling z) and the last `robustWindow` returns in sorted order
/// (median and MAD for the robust z).
///
/// Values are stored as `Float`: log returns are small numbers whose 24-bit mantissa keeps ~7 significant digits, far
/// more than a z-score needs, and halving the storage is what keeps `SeriesDetector` under 512 bytes with no heap. The
/// running sums are `Double` and are recomputed from the ring every 32 updates, so rounding never accumulates.
///
/// The sorted window is padded with `+∞` after its last valid entry, up to one guard slot past the 32 usable ones. The
/// padding is what lets `slideSorted` remove and insert without knowing where either value sits: see there.
@usableFromInline
struct ReturnHistory: Sendable {
    /// Ring capacity; `DetectorConfig.maxWindow`.
    @usableFromInline static let capacity = 32
    @usableFromInline var ring: InlineArray<32, Float>
    /// Sorted window in slots 0..<min(count, robustWindow); `+∞` in every later slot, including the guard slot 32.
    @usableFromInline var sorted: InlineArray<33, Float>
    @usableFromInline var sum: Double = 0
    @usableFromInline var sumSquares: Double = 0
    /// 1 / rollingWindow and 1 / (rollingWindow − 1), so the rolling moments cost multiplications only.
    @usableFromInline var inverseWindow: Float
    @usableFromInline var inverseWindowMinusOne: Float
    /// Next slot to write.
    @usableFromInline var head: UInt8 = 0
    /// Valid entries in `ring` (≤ 32).
    @usableFromInline var count: UInt8 = 0
    @usableFromInline var rollingWindow: UInt8
    @usableFromInline var robustWindow: UInt8

    @usableFromInline
    init(rollingWindow: Int, robustWindow: Int) {
        ring = InlineArray(repeating: 0)
        sorted = InlineArray(repeating: .infinity)
        self.rollingWindow = 0
        self.robustWindow = 0
        inverseWindow = 0
        inverseWindowMinusOne = 0
        setWindows(rollingWindow: rollingWindow, robustWindow: robustWindow)
    }

    @usableFromInline
    mutating func setWindows(rollingWindow: Int, robustWindow: Int) {
        let w = min(max(rollingWindow, 2), Self.capacity)
        self.rollingWindow = UInt8(w)
        self.robustWindow = UInt8(min(max(robustWindow, 2), Self.capacity))
        inverseWindow = Float(1 / Double(w))
        inverseWindowMinusOne = Float(1 / Double(w - 1))
    }

    /// The entry `back` places before the next write (1 = the latest).
    @inlinable @inline(__always)
    func recent(_ back: Int) -> Float { ring[unchecked: (Int(head) &- back) & 31] }

    /// Mean and sample variance of the last `rollingWindow` returns, or nil while fewer are stored. Multiplications
    /// only: the caller takes the square root together with the other scales (one vector instruction for all of them).
    @inlinable @inline(__always)
    var rollingMeanVariance: (mean: Double, variance: Double)? {
        guard count >= rollingWindow else { return nil }
        let mean = sum * Double(inverseWindow)
        let variance = max(0, (sumSquares - sum * mean) * Double(inverseWindowMinusOne))
        return (mean, variance)
    }

    /// Number of returns in the sorted window.
    @inlinable @inline(__always)
    var sortedCount: Int { min(Int(count), Int(robustWindow)) }

    /// Median of the sorted window, or nil until it holds `robustWindow` returns.
    var median: Double? {
        var copy = self
        return copy.medianInPlace()
    }

    /// A lower bound of the MAD in O(1); see `madLowerBoundInPlace`.
    func madLowerBound(median m: Double) -> Double {
        var copy = self
        return copy.madLowerBoundInPlace(median: m)
    }

    /// Median absolute deviation of the full sorted window; see `madInPlace`.
    func mad(median m: Double) -> Double {
        var copy = self
        return copy.madInPlace(median: m)
    }

    // The hot path reads the sorted window through a pointer to its storage in place. Reading an `InlineArray` stored
    // property through its subscript from a non-mutating context made the compiler copy all 132 bytes to the stack
    // first, three times per bar (a third of the robust detector's cost); `mutating` gives a stable address instead.

    /// Median of the sorted window, or nil until it holds `robustWindow` returns.
    @inlinable @inline(__always)
    mutating func medianInPlace() -> Double? {
        let n = Int(robustWindow)
        guard Int(count) >= n else { return nil }
        return withUnsafeMutableBytes(of: &sorted) { raw in
            let half = n >> 1
            let upper = Double(raw.load(fromByteOffset: half &* 4, as: Float.self))
            let lower = Double(raw.load(fromByteOffset: (half &- 1 + (n & 1)) &* 4, as: Float.self))
            return (lower + upper) * 0.5
        }
    }

    /// A lower bound of the MAD in O(1), from two order statistics of the sorted window.
    ///
    /// Why it holds: the ⌈n/2⌉ returns nearest the median form a contiguous block of the sorted array around the
    /// median's position, of B = ⌊(n−1)/2⌋ + 1 elements, and the MAD is at least the deviation of that block's farthest
    /// element. The block reaches at least h = ⌊(B−1)/2⌋ places to one side, so the MAD is at least the smaller of the
    /// deviations h places left and right of the middle. For symmetric data this is ≈ the MAD itself (the quartiles),
    /// so it screens out calm bars before the O(w) exact MAD is needed. (Checked against the exact MAD in the tests.)
    @inlinable @inline(__always)
    mutating func madLowerBoundInPlace(median m: Double) -> Double {
        let n = Int(robustWindow)
        let q = n >> 1
        let h = ((n - 1) >> 1) >> 1
        let lowIndex = q - h
        let highIndex = (n & 1 == 1 ? q : q - 1) + h
        return withUnsafeMutableBytes(of: &sorted) { raw in
            let left = m - Double(raw.load(fromByteOffset: lowIndex &* 4, as: Float.self))
            let right = Double(raw.load(fromByteOffset: highIndex &* 4, as: Float.self)) - m
            return fastMax(0, fastMin(left, right))
        }
    }

    /// Median absolute deviation of the full sorted window around `median` (raw, not scaled by 1.4826).
    ///
    /// O(w/2): the deviations, walked outwards from the middle of the sorted array, come out in increasing order (a
    /// merge of the left and right halves), so the middle one is found without sorting again. Slots −1 and n are
    /// never read: the side that ran out gets +∞ instead.
    @usableFromInline
    mutating func madInPlace(median m: Double) -> Double {
        let n = Int(robustWindow)
        guard n > 1 else { return 0 }
        // 0-based ranks of the wanted deviations: the middle one, or the two middle ones for even n. The loop is
        // branch-free (selects), because which side is nearer is a coin flip the branch predictor cannot learn.
        let k1 = (n - 1) >> 1
        let k2 = n >> 1
        return withUnsafeMutableBytes(of: &sorted) { raw in
            var left = (n >> 1) - 1
            var right = n >> 1
            var d1 = 0.0
            var d = 0.0
            var step = 0
            while step <= k2 {
                let lv = Double(raw.load(fromByteOffset: max(left, 0) &* 4, as: Float.self))
                let rv = Double(raw.load(fromByteOffset: right &* 4, as: Float.self))
                let dl = left >= 0 ? m - lv : .infinity
                // Slot n is padding (+∞) or the guard slot, so the right side needs no bounds test.
                let dr = rv - m
                let takeLeft = dl <= dr
                d = takeLeft ? dl : dr
                left -= takeLeft ? 1 : 0
                right += takeLeft ? 0 : 1
                d1 = step == k1 ? d : d1
                step += 1
            }
            return (d1 + d) * 0.5
        }
    }

    /// Appends a return, sliding both windows.
    @inlinable @inline(__always)
    mutating func push(_ x: Float, maintainSorted: Bool) {
        let c = Int(count)
        let h = Int(head)
        let xd = Double(x)
        let w = Int(rollingWindow)
        // Branch-free: before the window is full the leaving value is 0, which leaves both sums as plain sums.
        let leaving = c >= w ? Double(ring[unchecked: (h &- w) & 31]) : 0
        sum += xd - leaving
        sumSquares += xd * xd - leaving * leaving
        if maintainSorted {
            let wm = Int(robustWindow)
            // While the window fills, nothing leaves: removing +∞ (the padding) is a pure insertion.
            let old = c >= wm ? ring[unchecked: (h &- wm) & 31] : .infinity
            slideSorted(removing: old, inserting: x, window: wm)
        }
        ring[unchecked: h] = x
        head = UInt8((h + 1) & 31)
        count = UInt8(min(c + 1, Self.capacity))
        // Every 32 returns, recompute the running sums exactly so rounding cannot drift.
        if head == 0 { recomputeSums() }
    }

    @usableFromInline
    mutating func recomputeSums() {
        var s = 0.0
        var q = 0.0
        let n = min(Int(count), Int(rollingWindow))
        var i = 1
        while i <= n {
            let v = Double(recent(i))
            s += v
            q += v * v
            i += 1
        }
        sum = s
        sumSquares = q
    }

    /// Rebuilds the sorted window from the ring (reconfigure, or when the robust detector is switched back on).
    @usableFromInline
    mutating func rebuildSorted() {
        sorted = InlineArray(repeating: .infinity)
        let n = sortedCount
        var i = 0
        while i < n {
            slideSorted(removing: .infinity, inserting: recent(i + 1), window: Int(robustWindow))
            i += 1
        }
    }

    /// Changes the window lengths, keeping the stored returns.
    @usableFromInline
    mutating func resize(rollingWindow: Int, robustWindow: Int) {
        setWindows(rollingWindow: rollingWindow, robustWindow: robustWindow)
        recomputeSums()
        rebuildSorted()
    }

    /// Removes one occurrence of `old` from the sorted window and inserts `x`, in place, without branches and without
    /// finding either position: 4 lanes at a time, ⌈window/4⌉ steps (6 for the default 21).
    ///
    /// Why it works, with S the window padded by +∞ (so S[i+1] exists for every slot that matters):
    /// - Removing the first `old`: D[i] = S[i] while S[i] < old, else S[i+1] (everything from `old` on moves down).
    /// - Inserting x into the sorted D: R[i] = max(D[i−1], min(D[i], x)) with D[−1] = −∞. Below x's place this is
    ///   D[i], at it x, above it D[i−1] — a one-step shift, expressed with min/max only.
    /// Removing +∞ (nothing leaves while the window fills) leaves D = S, so the same code inserts. Lanes past the window
    /// stay +∞. This replaces a count-then-shift loop whose trip count and direction the branch predictor could not
    /// learn (it cost ~190 instructions per bar plus mispredictions; this is ~100, straight-line).
    @inlinable @inline(__always)
    mutating func slideSorted(removing old: Float, inserting x: Float, window: Int) {
        // Whole 4-lane steps over the window; the lanes past it are +∞ and stay so. A constant step count per call
        // site lets the compiler unroll the steps into straight-line code.
        if window <= 16 {
            slideSorted(removing: old, inserting: x, steps: 4)
        } else if window <= 24 {
            slideSorted(removing: old, inserting: x, steps: 6)
        } else {
            slideSorted(removing: old, inserting: x, steps: 8)
        }
    }

    @inlinable @inline(__always)
    mutating func slideSorted(removing old: Float, inserting x: Float, steps: Int) {
        withUnsafeMutableBytes(of: &sorted) { raw in
            let oldV = SIMD4<Float>(repeating: old)
            let xV = SIMD4<Float>(repeating: x)
            // Every load happens before any store, so the steps do not wait on one another (no chain through memory
            // or through a carried register): the out-of-order core overlaps them. Slot 32 (the guard) makes the
            // last step's shifted load safe.
            var removed = InlineArray<8, SIMD4<Float>>(repeating: SIMD4(repeating: .infinity))
            for step in 0..<steps {
                let s = raw.loadUnaligned(fromByteOffset: step &* 16, as: SIMD4<Float>.self)
                let next = raw.loadUnaligned(fromByteOffset: step &* 16 &+ 4, as: SIMD4<Float>.self)
                removed[step] = next.replacing(with: s, where: s .< oldV)
            }
            for step in 0..<steps {
                let d = removed[step]
                let carry = step == 0 ? -Float.infinity : removed[step &- 1][3]
                let below = SIMD4<Float>(carry, d[0], d[1], d[2])
                raw.storeBytes(of: lanewiseMax(below, lanewiseMin(d, xV)), toByteOffset: step &* 16, as: SIMD4<Float>.self)
            }
        }
    }
}

/// Lane-wise min and max written as compare-and-select, which x86 turns into single `minps`/`maxps` instructions
/// (the standard library's `pointwiseMin`/`Max` carry NaN rules that cost several instructions). Inputs are never NaN.
@inlinable @inline(__always)
func lanewiseMin(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { b.replacing(with: a, where: a .< b) }

@inlinable @inline(__always)
func lanewiseMax(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { a.replacing(with: b, where: b .> a) }
