using System.Buffers;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// Empties the shared byte-array pool (<see cref="ArrayPool{T}.Shared"/>) of the buffers a burst of load left in it.
/// Requests in flight rent 16, 32 and 64 KB buffers from it (HttpClient's HTTP/2 streams and YARP's body copies among
/// them); after a burst of 64 concurrent requests the pool holds as many of each as it may keep (32 per size and core in
/// .NET 9 and 10), about 3 MB in a client sidecar, of which 1000 requests/s use a handful. The pool gives them up only
/// a few at a time, at full collections, which steady load rarely causes. Renting a
/// size until the pool hands out newly allocated arrays (in generation 0, where what the pool kept since the burst is
/// older) takes them all out; dropping them leaves them to the next full collection.
/// Only the sizes below the large-object threshold are emptied: a large array is allocated in generation 2, so a new
/// one could not be told from a kept one. The pool refills with what the load then needs.
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
        // More than the pool keeps (32 per size and core, and one per thread for the calling thread): a bound in case
        // collections running meanwhile age the new arrays too.
        var most = (Environment.ProcessorCount * 32) + 2;
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

                // Allocated since the last collection: the pool was empty, or it had this one from a request just now
                // (kept aside, so that the next rent does not get it back). Two in a row: the pool is empty.
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
