using System.Security.Cryptography;
using AspireMesh.ProxyEngine.Hosting;

namespace AspireMesh.ProxyEngine.Tests.Hosting;

/// <summary>
/// Runs alone: <see cref="MappedCode.Release"/> acts on this whole test process (harmless to other tests, whose code is
/// mapped back as it runs, but it would make this class's measurement depend on what they run meanwhile).
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class MappedCodeTests
{
    private const string Executable = "/opt/mesh/AspireMesh.MeshProxy";

    private const string Smaps = """
        55d0c0000000-55d0c0b00000 r-xp 00000000 fe:00 101 /opt/mesh/AspireMesh.MeshProxy
        Size:              11264 kB
        Rss:                9000 kB
        Anonymous:             0 kB
        55d0c0b00000-55d0c0c00000 rw-p 00b00000 fe:00 101 /opt/mesh/AspireMesh.MeshProxy
        Size:               1024 kB
        Rss:                 400 kB
        Anonymous:           160 kB
        7f0000000000-7f0000400000 rw-p 00000000 00:00 0
        Rss:                4096 kB
        Anonymous:          4096 kB
        7f1000000000-7f1000100000 r--p 00400000 fe:00 202                    /usr/lib/x86_64-linux-gnu/libcrypto.so.3
        Rss:                 392 kB
        Anonymous:           392 kB
        7f1000100000-7f1000300000 r-xp 00100000 fe:00 202                    /usr/lib/x86_64-linux-gnu/libcrypto.so.3
        Rss:                1844 kB
        Anonymous:             0 kB
        7f2000000000-7f2000200000 r-xp 00000000 fe:00 303                    /opt/my libs/libspace.so.1
        Rss:                 512 kB
        Anonymous:             0 kB
        Swap:                  8 kB
        VmFlags: rd ex mr mw me sd
        7f3000000000-7f3000001000 r-xp 00000000 00:00 0  
        Rss:                   4 kB
        Anonymous:             0 kB
        7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                      [stack]
        Rss:                  40 kB
        Anonymous:            40 kB
        7ffd10000000-7ffd10002000 r-xp 00000000 00:00 0                      [vdso]
        Rss:                   8 kB
        Anonymous:             0 kB
        """;

    [Fact]
    public void Parse_ReadsEveryMappingWithItsResidentAndChangedBytes()
    {
        var mappings = MappedCode.Parse(Smaps.Split('\n')).ToList();

        Assert.Equal(9, mappings.Count);
        Assert.Equal(new MappedCode.Mapping(0x55d0c0000000, 0x55d0c0b00000, "r-xp", Executable, 9000 * 1024, 0), mappings[0]);
        Assert.Equal("", mappings[2].Path);
        Assert.Equal(("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", 392L * 1024, 392L * 1024), (mappings[3].Path, mappings[3].ResidentBytes, mappings[3].AnonymousBytes));
        // A path with a space; the swapped-out bytes; the VmFlags line is not a mapping.
        Assert.Equal(("/opt/my libs/libspace.so.1", 512L * 1024, 8L * 1024), (mappings[5].Path, mappings[5].ResidentBytes, mappings[5].SwapBytes));
        Assert.Equal(("", 4L * 1024), (mappings[6].Path, mappings[6].ResidentBytes));
        Assert.Equal(["[stack]", "[vdso]"], [mappings[7].Path, mappings[8].Path]);
    }

    [Fact]
    public void Qualifies_OnlyUnchangedReadOnlyCodeOfTheExecutableAndSharedLibraries()
    {
        var qualifying = MappedCode.Parse(Smaps.Split('\n')).Where(m => MappedCode.Qualifies(m, Executable, null)).Select(m => (m.Permissions, m.Path)).ToList();

        // Not the executable's writable data, not anonymous memory, not read-only data the loader relocated
        // (Anonymous > 0: those pages hold what the process wrote, and releasing them would lose it), not a library
        // with swapped-out pages (they may be changed ones), not the stack or the vDSO.
        Assert.Equal([("r-xp", Executable), ("r-xp", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3")], qualifying);
    }

    [Theory]
    [InlineData("r--p", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0, true)]
    [InlineData("r-xp", "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.0/libcoreclr.so", 0, false)]
    [InlineData("r-xp", "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.0/libSystem.Native.so", 0, true)]
    [InlineData("r-xp", "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.0/System.Private.CoreLib.dll", 0, false)]
    [InlineData("r--s", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0, false)]
    [InlineData("rwxp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0, false)]
    [InlineData("r-xp", "/memfd:doublemapper (deleted)", 0, false)]
    [InlineData("r-xp", "/tmp/libgone.so (deleted)", 0, false)]
    [InlineData("r-xp", "/usr/lib/x86_64-linux-gnu/libsomething.sox", 0, false)]
    [InlineData("r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 4, false)]
    [InlineData("r-xp", "/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.0/libclrjit.so", 0, false)]
    [InlineData("r-xp", "/opt/app/Native.so.Interop.dll", 0, false)]
    [InlineData("r-xp", "/opt/app/lib.sound.so", 0, true)]
    [InlineData("r-xp", "/usr/lib/x86_64-linux-gnu/libicuuc.so.72.1", 0, true)]
    public void Qualifies_ByPermissionsFileAndChangedPages(string permissions, string path, long anonymousKb, bool expected)
    {
        var mapping = new MappedCode.Mapping(0x1000, 0x3000, permissions, path, 8192, anonymousKb * 1024);

        Assert.Equal(expected, MappedCode.Qualifies(mapping, Executable, null));
    }

    [Fact]
    public void Qualifies_NotWhenNothingIsResident_OrPagesAreSwappedOut()
    {
        Assert.False(MappedCode.Qualifies(new MappedCode.Mapping(0x1000, 0x3000, "r-xp", Executable, 0, 0), Executable, null));
        Assert.False(MappedCode.Qualifies(new MappedCode.Mapping(0x1000, 0x3000, "r-xp", Executable, 4096, 0, SwapBytes: 4096), Executable, null));
    }

    [Fact]
    public void Qualifies_OnlyLibrariesMappedAtStartUp_WhenGiven()
    {
        var startUp = new HashSet<string> { "/usr/lib/x86_64-linux-gnu/libc.so.6" };

        Assert.True(MappedCode.Qualifies(new MappedCode.Mapping(0x1000, 0x3000, "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 4096, 0), Executable, startUp));
        // Loaded later, so it might be unloaded again: its address range could be reused while the maps are read.
        Assert.False(MappedCode.Qualifies(new MappedCode.Mapping(0x1000, 0x3000, "r-xp", "/usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so", 4096, 0), Executable, startUp));
        // The executable is never unloaded.
        Assert.True(MappedCode.Qualifies(new MappedCode.Mapping(0x1000, 0x3000, "r-xp", Executable, 4096, 0), Executable, startUp));
    }

    [Fact]
    public void Release_InThisProcess_UnmapsResidentLibraryCode_WhichRunsAgainOnItsNextUse()
    {
        Assert.SkipUnless(MappedCode.Supported, "Linux only (/proc/self/smaps, madvise)");
        var data = new byte[4096];
        Random.Shared.NextBytes(data);
        // OpenSSL's code is mapped and resident once it has run.
        var expected = SHA256.HashData(data);
        var before = OpenSslCodeResident();

        var released = MappedCode.Release();
        var after = OpenSslCodeResident();

        Assert.True(released > 0, $"released {released} bytes");
        // Other tests' threads run on meanwhile (this class runs alone, but the runtime's own threads do not stop),
        // and may map some of it back, not all.
        Assert.True(after < before / 2, $"OpenSSL's resident code before {before}, after {after} bytes");
        Assert.Equal(expected, SHA256.HashData(data));
    }

    private static long OpenSslCodeResident() =>
        MappedCode.Parse(File.ReadLines("/proc/self/smaps")).Where(m => m.Permissions == "r-xp" && m.Path.Contains("/libcrypto.so", StringComparison.Ordinal)).Sum(m => m.ResidentBytes);
}

/// <summary>A test collection that runs after the parallel ones, with nothing beside it.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;
