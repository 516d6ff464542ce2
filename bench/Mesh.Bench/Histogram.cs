namespace AspireMesh.Mesh.Bench;

/// <summary>
/// A log-linear latency histogram in the manner of HdrHistogram: values (nanoseconds) below 128 are counted exactly,
/// larger ones in 64 linear sub-buckets per power of two, so every recorded value is reported within 1/64 (1.6 %)
/// above its true value. Histograms of several runs are merged by adding counts; percentiles are then read from the
/// merged counts, never averaged.
/// </summary>
internal sealed class Histogram
{
    private const int SubBucketBits = 7;
    private const int SubBuckets = 1 << SubBucketBits; // 128 exact values
    private const int HalfSubBuckets = SubBuckets / 2; // 64 per power of two above them
    private const int Length = SubBuckets + ((63 - (SubBucketBits - 1)) * HalfSubBuckets);

    private readonly long[] _counts = new long[Length];

    /// <summary>Number of recorded values.</summary>
    public long Count { get; private set; }

    /// <summary>Largest recorded value.</summary>
    public long Max { get; private set; }

    /// <summary>Sum of recorded values (for the mean).</summary>
    public double Sum { get; private set; }

    /// <summary>Records one value (negative values count as 0).</summary>
    public void Record(long value)
    {
        value = Math.Max(0, value);
        _counts[Index(value)]++;
        Count++;
        Sum += value;
        Max = Math.Max(Max, value);
    }

    /// <summary>Adds every count of <paramref name="other"/> to this histogram.</summary>
    public void Merge(Histogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var i = 0; i < Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        Sum += other.Sum;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>
    /// The value at <paramref name="percentile"/> (0-100): the highest value equivalent to the bucket holding the
    /// ceil(p/100 * count)-th smallest value, capped at <see cref="Max"/>. 0 for an empty histogram.
    /// </summary>
    public long ValueAtPercentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(percentile / 100 * Count));
        long seen = 0;
        for (var i = 0; i < Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(HighestEquivalent(i), Max);
            }
        }

        return Max;
    }

    /// <summary>The bucket a value falls in.</summary>
    internal static int Index(long value)
    {
        if (value < SubBuckets)
        {
            return (int)value;
        }

        var shift = (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)value)) - (SubBucketBits - 1);
        return SubBuckets + ((shift - 1) * HalfSubBuckets) + (int)((value >> shift) - HalfSubBuckets);
    }

    /// <summary>The largest value that falls in bucket <paramref name="index"/>.</summary>
    internal static long HighestEquivalent(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        var shift = ((index - SubBuckets) / HalfSubBuckets) + 1;
        var sub = (long)((index - SubBuckets) % HalfSubBuckets) + HalfSubBuckets;
        return ((sub + 1) << shift) - 1;
    }
}
