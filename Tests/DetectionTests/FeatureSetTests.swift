import Foundation
import Testing
import VigilDetection

@Suite struct FeatureSetTests {
    func bar(_ i: Int, close: Double, open: Double? = nil, volume: Double = 1000, high: Double? = nil, low: Double? = nil) -> Bar {
        Bar(
            symbol: "X", timestamp: Int64(i) * 86_400_000, intervalSeconds: 86_400, open: open ?? close, high: high ?? close * 1.01,
            low: low ?? close * 0.99, close: close, volume: volume)
    }

    @Test func perSymbolFeaturesMatchTheirDefinitions() {
        var state = SymbolFeatureState()
        var row = [Double](repeating: 0, count: FeatureSet.count)
        let closes = (0..<25).map { 100 * pow(1.01, Double($0)) }
        for (i, close) in closes.enumerated() {
            let volume = i == 24 ? 5000.0 : 1000
            state.update(bar(i, close: close, open: i == 24 ? closes[23] * 1.02 : close, volume: volume), tier1Score: 0.7, into: &row)
        }
        // The last bar (24): every one-bar return is log(1.01).
        #expect(abs(row[0] - log(1.01)) < 1e-12)
        #expect(abs(row[1] - 5 * log(1.01)) < 1e-12)
        #expect(abs(row[2] - 20 * log(1.01)) < 1e-12)
        #expect(abs(row[3] - 5) < 1e-12)  // 5000 over the mean 1000 of the previous 20
        #expect(abs(row[4] - 0.02) < 1e-12)  // (1.01 − 0.99) · close / close
        #expect(abs(row[5] - log(1.02)) < 1e-12)
        #expect(abs(row[6]) < 1e-9)  // constant returns: no volatility
        #expect(row[7] == 0.7)
        #expect(FeatureSet.names.count == FeatureSet.count && FeatureSet.version == 3)
    }

    @Test func featuresAreCausal() {
        let prefix = (0..<30).map { 50 + Double($0 % 7) }
        func features(upTo index: Int, tail: [Double]) -> [Double] {
            var state = SymbolFeatureState()
            var row = [Double](repeating: 0, count: FeatureSet.count)
            var captured: [Double] = []
            for (i, close) in (prefix + tail).enumerated() {
                state.update(bar(i, close: close), tier1Score: 0, into: &row)
                if i == index { captured = row }
            }
            return captured
        }
        // What comes after bar 29 cannot change bar 29's features.
        #expect(features(upTo: 29, tail: [10, 200, 3]) == features(upTo: 29, tail: [80]))
    }

    @Test func realisedVolatilityIsTheSampleStandardDeviation() {
        var state = SymbolFeatureState()
        var row = [Double](repeating: 0, count: FeatureSet.count)
        let closes: [Double] = [100, 102, 99, 101, 104]
        for (i, close) in closes.enumerated() { state.update(bar(i, close: close), tier1Score: 0, into: &row) }
        let returns = zip(closes.dropFirst(), closes).map { log($0 / $1) }
        let mean = returns.reduce(0, +) / Double(returns.count)
        let expected = (returns.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(returns.count - 1)).squareRoot()
        #expect(abs(row[6] - expected) < 1e-12)
    }

    @Test func crossSectionIsRelativeToTheMedianAndCountsBreadth() {
        var rows = [0.03, -0.01, 0.01, 0.02].map { r -> [Double] in
            var row = [Double](repeating: 0, count: FeatureSet.count)
            row[0] = r
            return row
        }
        CrossSection.complete(&rows)
        // Median of {−0.01, 0.01, 0.02, 0.03} = 0.015; three of four rose.
        let relative = FeatureSet.names.firstIndex(of: "relative_return") ?? -1
        #expect(abs(rows[0][relative] - 0.015) < 1e-12)
        #expect(abs(rows[1][relative] - -0.025) < 1e-12)
        #expect(rows.allSatisfy { $0[relative + 1] == 0.75 })
    }

    @Test func volatilityNormalisedFeaturesUseThePreviousReturnsOnly() {
        var state = SymbolFeatureState()
        var row = [Double](repeating: 0, count: FeatureSet.count)
        // Alternating ±1 % returns, then a +5 % bar: σ is that of the 20 alternating returns before it.
        var closes: [Double] = [100]
        for i in 0..<21 { closes.append(closes[closes.count - 1] * (i % 2 == 0 ? 1.01 : 0.99)) }
        closes.append(closes[closes.count - 1] * 1.05)
        for (i, close) in closes.enumerated() {
            state.update(bar(i, close: close, volume: i == closes.count - 1 ? 3000 : 1000), tier1Score: 0, into: &row)
        }
        let returns = zip(closes.dropFirst(), closes).map { log($0 / $1) }
        let previous = Array(returns.dropLast().suffix(19))
        let mean = previous.reduce(0, +) / Double(previous.count)
        let sigma = (previous.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(previous.count - 1)).squareRoot()
        let index = { (name: String) in FeatureSet.names.firstIndex(of: name) ?? -1 }
        #expect(abs(row[index("return_1_z")] - log(1.05) / sigma) < 1e-9)
        #expect(abs(state.sigma - sigma) < 1e-12)
        #expect(row[index("sign_run")] == 2)  // the last alternating return (i = 20) was positive too
        #expect(abs(row[index("range_ratio")] - 1) < 1e-9)  // every bar's range is 2 %
        #expect(abs(row[index("volume_ratio_3")] - (5000.0 / 3) / 1000) < 1e-12)
        // The cross-section of one row: relative return 0, its z-score 0.
        var rows = [row]
        CrossSection.complete(&rows)
        #expect(rows[0][index("relative_return")] == 0 && rows[0][index("relative_return_z")] == 0)
    }

    @Test func driftIsMeasuredAgainstTheVolatilityBeforeTheRamp() {
        var state = SymbolFeatureState()
        var row = [Double](repeating: 0, count: FeatureSet.count)
        // Alternating ±1 % returns, then three +2 % bars (a ramp no single bar of which is extreme).
        var closes: [Double] = [100]
        for i in 0..<21 { closes.append(closes[closes.count - 1] * (i % 2 == 0 ? 1.01 : 0.99)) }
        for _ in 0..<3 { closes.append(closes[closes.count - 1] * 1.02) }
        for (i, close) in closes.enumerated() { state.update(bar(i, close: close), tier1Score: 0, into: &row) }
        let returns = zip(closes.dropFirst(), closes).map { log($0 / $1) }
        // σ of the returns before the ramp: the 18 alternating ones the 20-return window holds besides the ramp.
        let before = Array(returns.dropLast(3).suffix(18))
        let mean = before.reduce(0, +) / Double(before.count)
        let sigma = (before.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(before.count - 1)).squareRoot()
        let index = { (name: String) in FeatureSet.names.firstIndex(of: name) ?? -1 }
        #expect(abs(row[index("drift_3_z")] - 3 * log(1.02) / (sigma * 3.0.squareRoot())) < 1e-9)
        // The ramp's own returns inflate the ordinary σ: return_3_z is smaller than the drift.
        #expect(row[index("return_3_z")] < row[index("drift_3_z")])
    }

    @Test func marketRelativeFeaturesSubtractTheCrossSectionalMedian() {
        let gapZ = FeatureSet.names.firstIndex(of: "gap_z") ?? -1
        let volumeZ = FeatureSet.names.firstIndex(of: "volume_z") ?? -1
        var rows = [(1.0, 4.0), (2.0, 5.0), (9.0, 6.0)].map { g, v -> [Double] in
            var row = [Double](repeating: 0, count: FeatureSet.count)
            row[gapZ] = g
            row[volumeZ] = v
            return row
        }
        CrossSection.complete(&rows)
        let relativeGap = FeatureSet.names.firstIndex(of: "relative_gap_z") ?? -1
        let relativeVolume = FeatureSet.names.firstIndex(of: "relative_volume_z") ?? -1
        #expect(rows.map { $0[relativeGap] } == [-1, 0, 7])
        #expect(rows.map { $0[relativeVolume] } == [-1, 0, 1])
        // A move every symbol shares leaves nothing relative.
        var same = [[Double]](repeating: rows[2], count: 5)
        CrossSection.complete(&same)
        #expect(same.allSatisfy { $0[relativeGap] == 0 && $0[relativeVolume] == 0 })
    }
}
