using System.Buffers;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Empties the shared byte-array pool (<see cref="ArrayPool{T}.Shared"/>) of the buffers a burst of load left in it.
/// Requests in flight rent 16, 32 and 64 KB buffers from it (YARP's copy of a body rents one of 64 KB); after a burst
/// of 64 concurrent requests the pool holds as many of each as it may keep (32 per size and core in .NET 9 and 10),
/// about 3 MB in a client sidecar, of which 1000 requests/s use a handful. The pool gives them up only a few at a time,
/// at full collections, which steady load rarely causes. After a generation 0 collection, whatever the pool holds is
/// older than generation 0; renting a size until the pool hands out newly allocated arrays (generation 0) then takes
/// out what its per-core stores hold, and dropping them leaves them to the next full collection. Each other thread
/// keeps one buffer per size of its own, which this cannot reach. Only the sizes below the large-object threshold are
/// emptied: a large array is allocated in generation 2, so a new one could not be told from a kept one. The pool
/// refills with what the load then needs.
/// </summary>
internal static class PooledBuffers
{
    /// <summary>The smallest size emptied.</summary>
    public const int SmallestSize = 1024;

    /// <summary>The largest size emptied (the pool's largest size under the large-object threshold of 85000 bytes).</summary>
    public const int LargestSize = 64 * 1024;

    /// <summary>
    /// Rents and drops what the pool holds of every size from <see cref="SmallestSize"/> to <see cref="LargestSize"/>
    /// and returns the bytes taken out (not counting the new arrays that showed the pool empty, which it gets back).
    /// </summary>
    public static long Drain()
    {
        // Ages everything pooled out of generation 0, so that only what the pool allocates from here on is young.
        GC.Collect(0, GCCollectionMode.Forced, blocking: true);
        // A bound far above what the pool keeps by default (32 per size and core), in case it was configured to keep more
        // or a collection running meanwhile ages the new arrays too.
        var most = Environment.ProcessorCount * 256;
        var young = new List<byte[]>(2);
        long bytes = 0;
        for (var size = SmallestSize; size <= LargestSize; size *= 2)
        {
            for (var i = 0; i < most; i++)
            {
                var array = ArrayPool<byte>.Shared.Rent(size);
                if (GC.GetGeneration(array) > 0)
                {
                    bytes += array.Length;
                    continue;
                }

                // Allocated since the collection above: the pool is out of this size. Kept aside so that the next rent
                // does not get it back; a second one confirms it.
                young.Add(array);
                if (young.Count == 2)
                {
                    break;
                }
            }

            // Given back, they are what the next requests rent.
            foreach (var array in young)
            {
                ArrayPool<byte>.Shared.Return(array);
            }

            young.Clear();
        }

        return bytes;
    }
}
