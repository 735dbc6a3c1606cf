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
        var row = [Double](repeating: 0, count: FeatureSetV1.count)
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
        #expect(FeatureSetV1.names.count == FeatureSetV1.count && FeatureSetV1.version == 1)
    }

    @Test func featuresAreCausal() {
        let prefix = (0..<30).map { 50 + Double($0 % 7) }
        func features(upTo index: Int, tail: [Double]) -> [Double] {
            var state = SymbolFeatureState()
            var row = [Double](repeating: 0, count: FeatureSetV1.count)
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
        var row = [Double](repeating: 0, count: FeatureSetV1.count)
        let closes: [Double] = [100, 102, 99, 101, 104]
        for (i, close) in closes.enumerated() { state.update(bar(i, close: close), tier1Score: 0, into: &row) }
        let returns = zip(closes.dropFirst(), closes).map { log($0 / $1) }
        let mean = returns.reduce(0, +) / Double(returns.count)
        let expected = (returns.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(returns.count - 1)).squareRoot()
        #expect(abs(row[6] - expected) < 1e-12)
    }

    @Test func crossSectionIsRelativeToTheMedianAndCountsBreadth() {
        var rows = [0.03, -0.01, 0.01, 0.02].map { r -> [Double] in
            var row = [Double](repeating: 0, count: FeatureSetV1.count)
            row[0] = r
            return row
        }
        CrossSection.complete(&rows)
        // Median of {−0.01, 0.01, 0.02, 0.03} = 0.015; three of four rose.
        #expect(abs(rows[0][8] - 0.015) < 1e-12)
        #expect(abs(rows[1][8] - -0.025) < 1e-12)
        #expect(rows.allSatisfy { $0[9] == 0.75 })
    }
}
