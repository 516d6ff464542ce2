using AspireMesh.Mesh.Bench;

namespace AspireMesh.Bench.Tests;

public sealed class HistogramTests
{
    [Fact]
    public void ValueAtPercentile_ValuesBelow128_AreExact()
    {
        var histogram = new Histogram();
        for (var v = 1; v <= 100; v++)
        {
            histogram.Record(v);
        }

        Assert.Equal(50, histogram.ValueAtPercentile(50));
        Assert.Equal(99, histogram.ValueAtPercentile(99));
        Assert.Equal(100, histogram.ValueAtPercentile(100));
        Assert.Equal(100, histogram.Count);
    }

    [Fact]
    public void Index_AnyValue_BucketHoldsItWithinOneSixtyFourth()
    {
        var random = new Random(7);
        for (var i = 0; i < 100_000; i++)
        {
            var value = (long)Math.Pow(2, random.NextDouble() * 40);
            var highest = Histogram.HighestEquivalent(Histogram.Index(value));
            Assert.True(highest >= value, $"bucket of {value} ends at {highest}");
            Assert.True(highest - value <= value / 64.0, $"bucket of {value} ends at {highest}, more than 1/64 above");
        }
    }

    [Fact]
    public void Index_ConsecutiveBuckets_AreContiguous()
    {
        for (var index = 0; index < 3000; index++)
        {
            Assert.Equal(index + 1, Histogram.Index(Histogram.HighestEquivalent(index) + 1));
        }
    }

    [Fact]
    public void ValueAtPercentile_MillisecondRange_WithinPrecision()
    {
        var histogram = new Histogram();
        for (long us = 1; us <= 10_000; us++)
        {
            histogram.Record(us * 1000); // 1 µs .. 10 ms in nanoseconds
        }

        foreach (var (percentile, exact) in new[] { (50.0, 5_000_000L), (99.0, 9_900_000L), (99.9, 9_990_000L) })
        {
            var value = histogram.ValueAtPercentile(percentile);
            Assert.InRange(value, exact, exact + (exact / 64));
        }
    }

    [Fact]
    public void Merge_TwoHistograms_EqualsOneHoldingEveryValue()
    {
        var random = new Random(11);
        var first = new Histogram();
        var second = new Histogram();
        var all = new Histogram();
        for (var i = 0; i < 20_000; i++)
        {
            var value = random.NextInt64(50_000, 5_000_000);
            (i % 3 == 0 ? first : second).Record(value);
            all.Record(value);
        }

        first.Merge(second);

        Assert.Equal(all.Count, first.Count);
        Assert.Equal(all.Max, first.Max);
        foreach (var percentile in new[] { 0.0, 50, 90, 99, 99.9, 100 })
        {
            Assert.Equal(all.ValueAtPercentile(percentile), first.ValueAtPercentile(percentile));
        }
    }

    [Fact]
    public void ValueAtPercentile_Empty_IsZero() => Assert.Equal(0, new Histogram().ValueAtPercentile(99));
}
