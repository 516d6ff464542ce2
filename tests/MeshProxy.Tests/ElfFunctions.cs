using System.Buffers.Binary;
using System.Text;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// The functions an ELF64 little-endian file's symbol table names (<c>.symtab</c>), with their address and size: what
/// <c>nm -S</c> lists as t/T, read without a tool. The Native AOT publish moves the symbol table to the .dbg file beside
/// the executable.
/// </summary>
public static class ElfFunctions
{
    private const uint SymbolTable = 2; // SHT_SYMTAB
    private const int FunctionType = 2; // STT_FUNC

    public static List<(string Name, ulong Address, ulong Size)> Read(string path)
    {
        var functions = new List<(string Name, ulong Address, ulong Size)>();
        var file = File.ReadAllBytes(path);
        if (file.Length < 64 || file[0] != 0x7f || file[1] != (byte)'E' || file[2] != (byte)'L' || file[3] != (byte)'F' || file[4] != 2 || file[5] != 1)
        {
            throw new InvalidDataException($"{path} is not a 64-bit little-endian ELF file");
        }

        var sectionsAt = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(0x28)));
        var sectionSize = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(0x3a));
        var sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(0x3c));
        (int Offset, int Size, int Link) Section(int index)
        {
            var header = file.AsSpan(sectionsAt + (index * sectionSize));
            return (checked((int)BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..])),
                checked((int)BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..])),
                (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x28..]));
        }

        for (var index = 0; index < sectionCount; index++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(sectionsAt + (index * sectionSize) + 4)) != SymbolTable)
            {
                continue;
            }

            var (offset, size, link) = Section(index);
            var names = Section(link);
            // Elf64_Sym: name (4), info (1), other (1), section (2), value (8), size (8).
            for (var at = offset; at + 24 <= offset + size; at += 24)
            {
                var symbol = file.AsSpan(at, 24);
                if ((symbol[4] & 0xf) != FunctionType || BinaryPrimitives.ReadUInt16LittleEndian(symbol[6..]) == 0)
                {
                    continue;
                }

                var nameAt = names.Offset + (int)BinaryPrimitives.ReadUInt32LittleEndian(symbol);
                var nameLength = file.AsSpan(nameAt).IndexOf((byte)0);
                functions.Add((Encoding.UTF8.GetString(file, nameAt, nameLength),
                    BinaryPrimitives.ReadUInt64LittleEndian(symbol[8..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(symbol[16..])));
            }
        }

        return functions;
    }
}
