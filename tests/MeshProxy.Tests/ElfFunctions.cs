using System.Buffers.Binary;
using System.Text;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>
/// The functions an ELF64 little-endian file's symbol table names (<c>.symtab</c>), with their address, size and section
/// (what <c>objdump -t</c> lists with flag F), read without a tool. The Native AOT publish moves the symbol table to the
/// .dbg file beside the executable; the compiler's methods are in its <c>__managedcode</c> section, the runtime's C and
/// C++ code in <c>.text</c>.
/// </summary>
public static class ElfFunctions
{
    private const uint SymbolTable = 2; // SHT_SYMTAB
    private const int FunctionType = 2; // STT_FUNC

    public static List<(string Name, ulong Address, ulong Size, string Section)> Read(string path)
    {
        var functions = new List<(string Name, ulong Address, ulong Size, string Section)>();
        var file = File.ReadAllBytes(path);
        if (file.Length < 64 || file[0] != 0x7f || file[1] != (byte)'E' || file[2] != (byte)'L' || file[3] != (byte)'F' || file[4] != 2 || file[5] != 1)
        {
            throw new InvalidDataException($"{path} is not a 64-bit little-endian ELF file");
        }

        var sectionsAt = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(0x28)));
        var sectionSize = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(0x3a));
        var sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(0x3c));
        var sectionNamesIndex = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(0x3e));
        (int Offset, int Size, int Link, int Name) Section(int index)
        {
            var header = file.AsSpan(sectionsAt + (index * sectionSize));
            return (checked((int)BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..])),
                checked((int)BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..])),
                (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x28..]),
                (int)BinaryPrimitives.ReadUInt32LittleEndian(header));
        }

        string Text(int at)
        {
            var length = file.AsSpan(at).IndexOf((byte)0);
            return Encoding.UTF8.GetString(file, at, length);
        }

        var sectionNames = Section(sectionNamesIndex).Offset;

        for (var index = 0; index < sectionCount; index++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(sectionsAt + (index * sectionSize) + 4)) != SymbolTable)
            {
                continue;
            }

            var (offset, size, link, _) = Section(index);
            var names = Section(link);
            // Elf64_Sym: name (4), info (1), other (1), section (2), value (8), size (8).
            for (var at = offset; at + 24 <= offset + size; at += 24)
            {
                var symbol = file.AsSpan(at, 24);
                var inSection = BinaryPrimitives.ReadUInt16LittleEndian(symbol[6..]);
                if ((symbol[4] & 0xf) != FunctionType || inSection == 0 || inSection >= sectionCount)
                {
                    continue;
                }

                functions.Add((Text(names.Offset + (int)BinaryPrimitives.ReadUInt32LittleEndian(symbol)),
                    BinaryPrimitives.ReadUInt64LittleEndian(symbol[8..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(symbol[16..]),
                    Text(sectionNames + Section(inSection).Name)));
            }
        }

        return functions;
    }
}
