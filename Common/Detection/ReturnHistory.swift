/// The last 32 (standardized-by-time) returns of one series, kept inline, plus what the two window detectors need:
/// running sums over the last `rollingWindow` returns (rolling z) and the last `robustWindow` returns in sorted order
/// (median and MAD for the robust z).
///
/// Values are stored as `Float`: log returns are small numbers whose 24-bit mantissa keeps ~7 significant digits, far
/// more than a z-score needs, and halving the storage is what keeps `SeriesDetector` under 512 bytes with no heap. The
/// running sums are `Double` and are recomputed from the ring every 32 updates, so rounding never accumulates.
@usableFromInline
struct ReturnHistory: Sendable {
    /// Ring capacity; `DetectorConfig.maxWindow`.
    @usableFromInline static let capacity = 32
    @usableFromInline var ring: InlineArray<32, Float>
    @usableFromInline var sorted: InlineArray<32, Float>
    @usableFromInline var sum: Double = 0
    @usableFromInline var sumSquares: Double = 0
    /// Next slot to write.
    @usableFromInline var head: UInt8 = 0
    /// Valid entries in `ring` (≤ 32).
    @usableFromInline var count: UInt8 = 0
    @usableFromInline var rollingWindow: UInt8
    @usableFromInline var robustWindow: UInt8

    @usableFromInline
    init(rollingWindow: Int, robustWindow: Int) {
        ring = InlineArray(repeating: 0)
        sorted = InlineArray(repeating: 0)
        self.rollingWindow = UInt8(clamping: min(max(rollingWindow, 2), Self.capacity))
        self.robustWindow = UInt8(clamping: min(max(robustWindow, 2), Self.capacity))
    }

    /// The entry `back` places before the next write (1 = the latest).
    @inlinable @inline(__always)
    func recent(_ back: Int) -> Float { ring[unchecked: (Int(head) &- back) & 31] }

    /// Mean and sample std of the last `rollingWindow` returns, or nil while fewer are stored.
    @inlinable @inline(__always)
    var rollingMoments: (mean: Double, std: Double)? {
        let w = Int(rollingWindow)
        guard Int(count) >= w else { return nil }
        let n = Double(w)
        let mean = sum / n
        let variance = max(0, (sumSquares - sum * mean) / (n - 1))
        return (mean, variance.squareRoot())
    }

    /// Number of returns in the sorted window.
    @inlinable @inline(__always)
    var sortedCount: Int { min(Int(count), Int(robustWindow)) }

    /// Median of the sorted window, or nil until it holds `robustWindow` returns.
    @inlinable @inline(__always)
    var median: Double? {
        let n = Int(robustWindow)
        guard Int(count) >= n else { return nil }
        return Self.median(of: sorted, count: n)
    }

    @inlinable @inline(__always)
    static func median(of sorted: InlineArray<32, Float>, count n: Int) -> Double {
        let half = n >> 1
        if n & 1 == 1 { return Double(sorted[unchecked: half]) }
        return (Double(sorted[unchecked: half - 1]) + Double(sorted[unchecked: half])) * 0.5
    }

    /// A lower bound of the MAD in O(1), from two order statistics of the sorted window.
    ///
    /// Why it holds: the ⌈n/2⌉ returns nearest the median form a contiguous block of the sorted array around the
    /// median's position, of B = ⌊(n−1)/2⌋ + 1 elements, and the MAD is at least the deviation of that block's farthest
    /// element. The block reaches at least h = ⌊(B−1)/2⌋ places to one side, so the MAD is at least the smaller of the
    /// deviations h places left and right of the middle. For symmetric data this is ≈ the MAD itself (the quartiles),
    /// so it screens out calm bars before the O(w) exact MAD is needed. (Checked against the exact MAD in the tests.)
    @inlinable @inline(__always)
    func madLowerBound(median m: Double) -> Double {
        let n = Int(robustWindow)
        let q = n >> 1
        let h = ((n - 1) >> 1) >> 1
        let lowIndex = q - h
        let highIndex = (n & 1 == 1 ? q : q - 1) + h
        let left = m - Double(sorted[unchecked: lowIndex])
        let right = Double(sorted[unchecked: highIndex]) - m
        return max(0, min(left, right))
    }

    /// Median absolute deviation of the full sorted window around `median` (raw, not scaled by 1.4826).
    ///
    /// O(w/2): the deviations, walked outwards from the middle of the sorted array, come out in increasing order (a
    /// merge of the left and right halves), so the middle one is found without sorting again.
    @inlinable
    func mad(median m: Double) -> Double {
        let n = Int(robustWindow)
        guard n > 1 else { return 0 }
        // 0-based ranks of the wanted deviations: the middle one, or the two middle ones for even n. The loop is
        // branch-free (selects), because which side is nearer is a coin flip the branch predictor cannot learn.
        let k1 = (n - 1) >> 1
        let k2 = n >> 1
        var left = (n >> 1) - 1
        var right = n >> 1
        var d1 = 0.0
        var d = 0.0
        var step = 0
        while step <= k2 {
            let dl = left >= 0 ? m - Double(sorted[unchecked: max(left, 0)]) : .infinity
            let dr = right < n ? Double(sorted[unchecked: min(right, 31)]) - m : .infinity
            let takeLeft = dl <= dr
            d = takeLeft ? dl : dr
            left -= takeLeft ? 1 : 0
            right += takeLeft ? 0 : 1
            if step == k1 { d1 = d }
            step += 1
        }
        return (d1 + d) * 0.5
    }

    /// Appends a return, sliding both windows.
    @inlinable
    mutating func push(_ x: Float, maintainSorted: Bool) {
        let c = Int(count)
        let h = Int(head)
        let xd = Double(x)
        let w = Int(rollingWindow)
        if c >= w {
            let old = Double(ring[unchecked: (h &- w) & 31])
            sum += xd - old
            sumSquares += xd * xd - old * old
        } else {
            sum += xd
            sumSquares += xd * xd
        }
        if maintainSorted {
            let wm = Int(robustWindow)
            if c >= wm {
                replaceSorted(old: ring[unchecked: (h &- wm) & 31], new: x, count: wm)
            } else {
                insertSorted(x, count: c)
            }
        }
        ring[unchecked: h] = x
        head = UInt8((h + 1) & 31)
        if c < Self.capacity { count = UInt8(c + 1) }
        // Every 32 returns, recompute the running sums exactly so rounding cannot drift.
        if head == 0 { recomputeSums() }
    }

    @inlinable
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
        let n = sortedCount
        var i = 0
        while i < n {
            insertSorted(recent(i + 1), count: i)
            i += 1
        }
    }

    /// Changes the window lengths, keeping the stored returns.
    @usableFromInline
    mutating func resize(rollingWindow: Int, robustWindow: Int) {
        self.rollingWindow = UInt8(clamping: min(max(rollingWindow, 2), Self.capacity))
        self.robustWindow = UInt8(clamping: min(max(robustWindow, 2), Self.capacity))
        recomputeSums()
        rebuildSorted()
    }

    @inlinable
    mutating func insertSorted(_ x: Float, count n: Int) {
        var j = n
        while j > 0 {
            let prev = sorted[unchecked: j - 1]
            if prev <= x { break }
            sorted[unchecked: j] = prev
            j -= 1
        }
        sorted[unchecked: j] = x
    }

    /// Replaces one occurrence of `old` by `new` in the sorted prefix of length `n`, shifting only the elements between
    /// the two positions. Positions are found by branch-free counting (n ≤ 32 compares the compiler vectorizes),
    /// cheaper than a binary search whose branches mispredict half the time.
    @inlinable
    mutating func replaceSorted(old: Float, new x: Float, count n: Int) {
        var oldIndex = 0
        var newIndex = 0
        var i = 0
        while i < n {
            let v = sorted[unchecked: i]
            oldIndex &+= v < old ? 1 : 0
            newIndex &+= v < x ? 1 : 0
            i += 1
        }
        if newIndex > oldIndex {
            // `old` leaves from the left of the new position: shift (oldIndex, newIndex) down by one.
            var j = oldIndex
            while j < newIndex - 1 {
                sorted[unchecked: j] = sorted[unchecked: j + 1]
                j += 1
            }
            sorted[unchecked: newIndex - 1] = x
        } else {
            var j = oldIndex
            while j > newIndex {
                sorted[unchecked: j] = sorted[unchecked: j - 1]
                j -= 1
            }
            sorted[unchecked: newIndex] = x
        }
    }
}
