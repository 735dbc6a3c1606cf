/// A small, fast, seedable random number generator: xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
///
/// Same seed → same sequence on every platform and Swift version, which the system's `SystemRandomNumberGenerator`
/// cannot promise. Used by the synthetic market so demos, tests and load runs are reproducible. Not cryptographic.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    /// Seeds the four state words from SplitMix64 over `seed`, which never yields the all-zero state.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    @inlinable
    public mutating func nextOpenUnit() -> Double { (Double(next() >> 11) + 1) * 0x1.0p-53 }

    /// Uniform in [low, high).
    @inlinable
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUnit() }

    /// Standard normal (Box–Muller; one of the pair is discarded to keep the state a plain value).
    public mutating func nextNormal() -> Double {
        let u1 = nextOpenUnit()
        let u2 = nextUnit()
        return (-2 * vLog(u1)).squareRoot() * vCos(2 * Double.pi * u2)
    }

    /// Student-t with 4 degrees of freedom scaled to unit variance (a t₄ has variance 2): fat tails like daily returns
    /// (kurtosis is infinite for ν = 4, which matches the occasional 8-10σ day of real stocks).
    public mutating func nextFatTailed() -> Double {
        let z = nextNormal()
        // χ²₄ / 4 = (E₁ + E₂) / 2 with Eᵢ standard exponentials.
        let chi = (-vLog(nextOpenUnit()) - vLog(nextOpenUnit())) * 0.5
        return z / chi.squareRoot() * 0.707_106_781_186_547_6
    }
}
