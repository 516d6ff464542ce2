namespace AspireMesh.Hosting.Orchestration;

/// <summary>The AppHost's terminal: its own lines, and every resource's output prefixed with the resource's name.</summary>
internal sealed class MeshConsole(TextWriter output, TextWriter error)
{
    private static readonly string[] Colors = ["\e[36m", "\e[32m", "\e[33m", "\e[35m", "\e[34m", "\e[96m", "\e[92m", "\e[93m", "\e[95m", "\e[94m"];
    private readonly Lock _gate = new();
    private readonly bool _color = !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;
    private readonly Dictionary<string, string> _colorOf = new(StringComparer.Ordinal);
    private int _width = 12;

    public void Reserve(IEnumerable<string> names)
    {
        lock (_gate)
        {
            foreach (var name in names)
            {
                _width = Math.Max(_width, name.Length);
                _colorOf.TryAdd(name, Colors[_colorOf.Count % Colors.Length]);
            }
        }
    }

    public void ResourceLine(string resource, string text, bool isError)
    {
        lock (_gate)
        {
            var prefix = resource.PadRight(_width);
            if (_color)
            {
                var color = _colorOf.GetValueOrDefault(resource, "\e[37m");
                output.WriteLine(isError ? $"{color}{prefix} |\e[0m \e[31m{text}\e[0m" : $"{color}{prefix} |\e[0m {text}");
            }
            else
            {
                output.WriteLine($"{prefix} | {text}");
            }
        }
    }

    public void Info(string text)
    {
        lock (_gate)
        {
            output.WriteLine(text);
        }
    }

    public void Warn(string text) => Info(_color ? $"\e[33m{text}\e[0m" : text);

    public void Error(string text)
    {
        lock (_gate)
        {
            output.Flush();
            error.WriteLine(_color ? $"\e[31m{text}\e[0m" : text);
        }
    }
}
