import Testing

@testable import VigilDetection

@Suite("Tier-1 detectors")
struct DetectorTests {
    /// Config with no early phase, so hand-computed statistics are compared with plain thresholds.
    static func plainConfig(window: Int = 5) -> DetectorConfig {
        var c = DetectorConfig.default
        c.warmUp.fullBars = 0
        c.rollingZ.window = window
        c.rollingZ.warmUp = 0
        c.robustZ.window = window
        c.robustZ.warmUp = 0
        return c
    }

    @Test("rolling z of a known sequence")
    func rollingZHandComputed() {
        // Window returns 0.01, −0.02, 0.015, 0, −0.005: mean 0, sample variance 7.5e-4 / 4, std 0.0136931.
        var d = SeriesDetector(config: Self.plainConfig())
        let scores = run(&d, bars(logReturns: [0.01, -0.02, 0.015, 0.0, -0.005, 0.03]))
        let last = scores[6]
        #expect(abs(last.features.rollingMean) < 1e-9)
        #expect(abs(last.features.rollingStd - 0.013_693_063_9) < 1e-7)
        #expect(abs(last.statistics[.rollingZ] - 0.03 / 0.013_693_063_9) < 1e-4)
    }

    @Test("robust z: median and MAD of a known window")
    func robustZHandComputed() {
        // Sorted window −0.02, −0.005, 0, 0.01, 0.015: median 0, |deviations| 0, 0.005, 0.01, 0.015, 0.02 → MAD 0.01.
        var d = SeriesDetector(config: Self.plainConfig())
        let scores = run(&d, bars(logReturns: [0.01, -0.02, 0.015, 0.0, -0.005, 0.03]))
        let last = scores[6]
        #expect(abs(last.features.median) < 1e-9)
        #expect(abs(last.features.mad - 0.01) < 1e-8)
        #expect(abs(last.statistics[.robustZ] - 0.03 / (1.4826 * 0.01)) < 1e-3)
    }

    @Test("median and MAD of the sorted window, odd and even")
    func medianAndMad() {
        var h = ReturnHistory(rollingWindow: 5, robustWindow: 5)
        for x: Float in [3, 1, 100, 2, 4] { h.push(x, maintainSorted: true) }
        #expect(h.median == 3)
        #expect(h.mad(median: 3) == 1)  // |x − 3| = 0, 1, 1, 2, 97
        // Sliding: 3 leaves, 5 enters → 1, 2, 4, 5, 100; median 4, deviations 3, 2, 0, 1, 96 → MAD 2.
        h.push(5, maintainSorted: true)
        #expect(h.median == 4)
        #expect(h.mad(median: 4) == 2)
        var e = ReturnHistory(rollingWindow: 4, robustWindow: 4)
        for x: Float in [1, 2, 3, 10] { e.push(x, maintainSorted: true) }
        #expect(e.median == 2.5)  // deviations 1.5, 0.5, 0.5, 7.5 → MAD (0.5 + 1.5) / 2 = 1
        #expect(e.mad(median: 2.5) == 1)
    }

    @Test("MAD lower bound never exceeds the exact MAD", arguments: Array(5...32))
    func madLowerBound(window: Int) {
        var rng = SeededGenerator(seed: UInt64(window))
        var h = ReturnHistory(rollingWindow: window, robustWindow: window)
        for i in 0..<400 {
            // Mix of fat tails, ties and skew.
            let x = i % 7 == 0 ? 0 : Float(rng.nextFatTailed() + (i % 3 == 0 ? 0.5 : 0))
            h.push(x, maintainSorted: true)
            guard let m = h.median else { continue }
            let exact = h.mad(median: m)
            #expect(h.madLowerBound(median: m) <= exact + 1e-12)
            // Cross-check the exact MAD against a brute-force sort of the window.
            let window = (1...window).map { Double(h.recent($0)) }.sorted()
            let med = window.count % 2 == 1 ? window[window.count / 2] : (window[window.count / 2 - 1] + window[window.count / 2]) / 2
            let deviations = window.map { abs($0 - med) }.sorted()
            let brute =
                deviations.count % 2 == 1
                ? deviations[deviations.count / 2] : (deviations[deviations.count / 2 - 1] + deviations[deviations.count / 2]) / 2
            #expect(abs(m - med) < 1e-12)
            #expect(abs(exact - brute) < 1e-12)
        }
    }

    @Test("CUSUM accumulation on a hand-worked sequence")
    func cusumSteps() {
        // k = 0.5: z 1, 2, 1.5, −0.3, 2 → S⁺ 0.5, 2, 3, 2.2, 3.7; S⁻ stays 0.
        var up = 0.0
        var down = 0.0
        var statistics: [Double] = []
        for z in [1.0, 2.0, 1.5, -0.3, 2.0] {
            let step = SeriesDetector.cusumStep(up: up, down: down, z: z, k: 0.5)
            up = step.up
            down = step.down
            statistics.append(step.statistic)
        }
        let expected = [0.5, 2.0, 3.0, 0.0, 3.7]
        for (got, want) in zip(statistics, expected) { #expect(abs(abs(got) - want) < 1e-12) }
        #expect(abs(up - 3.7) < 1e-12)
        #expect(down == 0)
        // Downward: z −3, −1 → S⁻ 2.5, 3; statistic carries the side's sign.
        let s1 = SeriesDetector.cusumStep(up: 0, down: 0, z: -3, k: 0.5)
        let s2 = SeriesDetector.cusumStep(up: s1.up, down: s1.down, z: -1, k: 0.5)
        #expect(s2.down == 3 && s2.statistic == -3 && s2.up == 0)
    }

    @Test("CUSUM fires on a ramp and resets the side that fired")
    func cusumFiresAndResets() {
        var config = DetectorConfig.default
        config.enable(only: .cusum)
        var d = SeriesDetector(config: config)
        var series = calmSeries(count: 120)
        _ = run(&d, series)
        // A ramp of 2σ bars (σ ≈ the learned EWMA std): each adds z − k to S⁺ until it crosses h.
        var firedAt: Int?
        var afterFire: BarScore?
        for i in 0..<12 {
            let sigma = d.returnVariance.squareRoot()
            let bar = shockBar(after: series[series.count - 1], logReturn: 2.5 * sigma)
            series.append(bar)
            let s = d.update(bar)
            if firedAt != nil, afterFire == nil { afterFire = s }
            if s.fired.contains(.cusum), firedAt == nil {
                firedAt = i
                #expect(s.statistics[.cusum] >= config.cusum.h)
                #expect(d.cusumPositive == 0)  // reset after firing
            }
        }
        #expect(firedAt != nil)
        if let next = afterFire { #expect(next.features.cusumPositive <= config.cusum.clip) }
    }

    @Test("no alert during warm-up, whatever the bars")
    func warmUpSilent() {
        var d = SeriesDetector(config: .default)
        let wild = bars(logReturns: [0.5, -0.6, 0.7], volume: 1)
        for (i, b) in wild.enumerated() {
            var bar = b
            bar.volume = i == 3 ? 1e12 : 1
            let s = d.update(bar)
            #expect(!s.isAlert)
            #expect(s.anomalyScore == 0)
        }
        #expect(d.barsSeen == 4)
    }

    @Test("a bigger shock never scores lower", arguments: [1.0, -1.0])
    func monotoneInShock(sign: Double) {
        var base = SeriesDetector(config: .default)
        let history = calmSeries(count: 300, seed: 5)
        _ = run(&base, history)
        let last = history[history.count - 1]
        var previous = -1.0
        for i in 0...60 {
            let size = sign * Double(i) * 0.004
            var d = base
            let s = d.update(shockBar(after: last, logReturn: size, volumeMultiple: 1 + Double(i) * 0.2, gapShare: 0.5))
            #expect(s.anomalyScore >= previous - 1e-12, "shock \(size)")
            #expect(s.anomalyScore >= 0 && s.anomalyScore < 1)
            previous = s.anomalyScore
        }
        #expect(previous > 0.8)  // a 24% move on 13× volume is critical
    }

    @Test("combined score is non-decreasing in every detector's evidence")
    func combinerMonotone() {
        // The combiner is E = top + w·(Σ excess − excess(top)); check it numerically on a grid.
        let floor = 0.4
        let weight = 0.6
        func combine(_ e: [Double]) -> Double {
            let top = e.max() ?? 0
            let excess = e.reduce(0) { $0 + max(0, $1 - floor) }
            return top + weight * (excess - max(0, top - floor))
        }
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<2_000 {
            var e = (0..<5).map { _ in rng.uniform(0, 2) }
            let before = combine(e)
            let i = Int(rng.next() % 5)
            e[i] += rng.uniform(0, 0.5)
            #expect(combine(e) >= before - 1e-12)
        }
    }

    @Test("constant and zero-variance series stay finite")
    func constantSeries() {
        var d = SeriesDetector(config: .default)
        let flat = Bar(symbol: "FLAT", timestamp: 0, open: 50, high: 50, low: 50, close: 50, volume: 0)
        for i in 0..<100 {
            var b = flat
            b.timestamp = Int64(i) * 86_400_000
            let s = d.update(b)
            #expect(s.anomalyScore.isFinite && !s.isAlert)
            #expect(s.features.all.allSatisfy { $0.value.isFinite })
        }
        var jump = flat
        jump.timestamp = 100 * 86_400_000
        jump.close = 50.5
        jump.high = 50.5
        let s = d.update(jump)
        #expect(s.anomalyScore.isFinite && s.anomalyScore < 1)
        #expect(s.isAlert)  // the first move after a perfectly flat series is anomalous
    }

    @Test("scores do not depend on the price scale")
    func priceScale() {
        let returns = noiseReturns(count: 200, sigma: 0.015, seed: 9) + [0.12, -0.02, 0.01]
        var small = SeriesDetector(config: .default)
        var large = SeriesDetector(config: .default)
        let a = run(&small, bars(logReturns: returns, start: 1e-4))
        let b = run(&large, bars(logReturns: returns, start: 1e6))
        for (x, y) in zip(a, b) {
            #expect(abs(x.anomalyScore - y.anomalyScore) < 1e-6)
            #expect(x.isAlert == y.isAlert)
        }
        #expect(a[a.count - 3].isAlert)
    }

    @Test("rejected bars do not touch the state")
    func rejectedBars() {
        var d = SeriesDetector(config: .default)
        _ = run(&d, bars(logReturns: noiseReturns(count: 30)))
        let seen = d.barsSeen
        for close in [Double.nan, 0, -1, .infinity] {
            let s = d.update(Bar(symbol: "X", timestamp: 0, open: 1, high: 1, low: 1, close: close, volume: 1))
            #expect(!s.isValid && !s.isAlert && s.anomalyScore == 0)
        }
        #expect(d.barsSeen == seen)
        // Missing open/high/low and NaN volume are repaired, not propagated.
        let s = d.update(Bar(symbol: "X", timestamp: 0, open: .nan, high: .nan, low: 0, close: 101, volume: .nan))
        #expect(s.isValid && s.anomalyScore.isFinite)
    }

    @Test("reconfigure keeps the learned state")
    func reconfigureKeepsState() {
        let series = calmSeries(count: 200, seed: 21)
        var straight = SeriesDetector(config: .default)
        let expected = run(&straight, series)
        var reloaded = SeriesDetector(config: .default)
        _ = run(&reloaded, Array(series[..<100]))
        reloaded.reconfigure(.default)
        #expect(reloaded.barsSeen == 100)
        let got = run(&reloaded, Array(series[100...]))
        for (x, y) in zip(got, expected[100...]) { #expect(x.anomalyScore == y.anomalyScore) }

        // New windows are rebuilt from the stored returns, not restarted.
        var changed = DetectorConfig.default
        changed.rollingZ.window = 10
        changed.robustZ.window = 11
        var other = SeriesDetector(config: .default)
        _ = run(&other, Array(series[..<100]))
        other.reconfigure(changed)
        let next = other.update(series[100])
        #expect(other.barsSeen == 101)
        #expect(next.features.rollingStd > 0)
        #expect(next.features.median != 0 || next.features.mad > 0)
    }

    @Test("alerts carry detections with driving features")
    func detectionsMaterialise() {
        var d = SeriesDetector(config: .default)
        let history = calmSeries(count: 100)
        _ = run(&d, history)
        let s = d.update(shockBar(after: history[history.count - 1], logReturn: -0.15, volumeMultiple: 8, gapShare: 0.7))
        #expect(s.isAlert)
        #expect(s.severity == .critical)
        let detections = s.detections(symbol: "SYN001", timestamp: 42)
        #expect(detections.count == s.fired.kinds.count)
        #expect(!detections.isEmpty)
        for det in detections {
            #expect(det.symbol == "SYN001" && det.timestamp == 42)
            #expect(det.score >= 0.5 && det.score < 1)
            #expect(det.severity >= .warning)
            #expect(!det.features.isEmpty)
        }
        #expect(s.fired.contains(.volumeSurge))
        #expect(s.fired.contains(.ewmaZ))
    }

    @Test("score in [0, 1], alert iff score ≥ threshold, and alerts always name detectors")
    func invariantsOnSyntheticMarket() {
        var market = SyntheticMarket(seed: 77, symbols: 20, start: 0, intervalSeconds: 86_400, anomalyRate: 0.01)
        var detectors = [SeriesDetector](repeating: SeriesDetector(config: .default), count: 20)
        var alerts = 0
        for _ in 0..<500 {
            for (i, bar) in market.next().enumerated() {
                let s = detectors[i].update(bar)
                #expect(s.anomalyScore >= 0 && s.anomalyScore < 1)
                #expect(s.isAlert == (s.anomalyScore >= DetectorConfig.default.alertThreshold))
                #expect(s.isAlert == !s.fired.isEmpty)
                if s.isAlert { alerts += 1 }
            }
        }
        #expect(alerts > 0)
    }

    @Test("per-series state is inline and small")
    func stateSize() {
        #expect(MemoryLayout<SeriesDetector>.size <= 512)
        #expect(MemoryLayout<BarScore>.size <= 320)
    }
}
