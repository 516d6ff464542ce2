using System.Net;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Mesh.Bench;

/// <summary>nginx and HAProxy (Debian's packages) in front of the same upstream, as reference reverse proxies.</summary>
internal static class ReferenceProxies
{
    public static async Task<RunningScenario> NginxAsync(Topology t)
    {
        int http1 = PortAllocator.FreePort(), http2 = PortAllocator.FreePort();
        var dir = Directory.CreateDirectory(Path.Combine(t.Work, "nginx")).FullName;
        var config = Path.Combine(dir, "nginx.conf");
        // As a tuned production config would: all cores, keep-alive connections to the upstream, no access log.
        await File.WriteAllTextAsync(config, $$"""
            worker_processes auto;
            daemon off;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/error.log warn;
            events { worker_connections 8192; }
            http {
                access_log off;
                client_body_temp_path {{dir}}/body;
                proxy_temp_path {{dir}}/proxy;
                fastcgi_temp_path {{dir}}/fastcgi;
                uwsgi_temp_path {{dir}}/uwsgi;
                scgi_temp_path {{dir}}/scgi;
                keepalive_requests 1000000;
                upstream app {
                    server 127.0.0.1:{{t.UpstreamHttp1Port}};
                    keepalive 128;
                    keepalive_requests 1000000;
                }
                server {
                    listen 127.0.0.1:{{http1}};
                    listen 127.0.0.1:{{http2}} http2;
                    location / {
                        proxy_pass http://app;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                    }
                }
            }
            """).ConfigureAwait(false);
        var nginx = t.Track(await BenchProcess.StartAsync("nginx", Tools.Nginx, ["-p", dir, "-c", config, "-e", Path.Combine(dir, "error.log")]).ConfigureAwait(false));
        return await ReadyAsync(nginx, http1, http2).ConfigureAwait(false);
    }

    public static async Task<RunningScenario> HaproxyAsync(Topology t)
    {
        int http1 = PortAllocator.FreePort(), http2 = PortAllocator.FreePort();
        var dir = Directory.CreateDirectory(Path.Combine(t.Work, "haproxy")).FullName;
        var config = Path.Combine(dir, "haproxy.cfg");
        // HAProxy uses one thread per core by default; connections to the upstream are kept and shared.
        await File.WriteAllTextAsync(config, $"""
            global
                maxconn 4000
            defaults
                mode http
                timeout connect 5s
                timeout client 30s
                timeout server 30s
                option http-keep-alive
                http-reuse always
            frontend http1
                bind 127.0.0.1:{http1}
                default_backend app
            frontend http2
                bind 127.0.0.1:{http2} proto h2
                default_backend app
            backend app
                server upstream 127.0.0.1:{t.UpstreamHttp1Port}
            """ + "\n").ConfigureAwait(false);
        var haproxy = t.Track(await BenchProcess.StartAsync("haproxy", Tools.Haproxy, ["-db", "-f", config]).ConfigureAwait(false));
        return await ReadyAsync(haproxy, http1, http2).ConfigureAwait(false);
    }

    private static async Task<RunningScenario> ReadyAsync(BenchProcess process, int http1, int http2)
    {
        var scenario = new RunningScenario(
            new LoadTarget(new Uri($"http://127.0.0.1:{http1}/plain"), null, HttpVersion.Version11),
            new LoadTarget(new Uri($"http://127.0.0.1:{http2}/plain"), null, HttpVersion.Version20), [process.WithPort(http1)]);
        await Scenarios.Routed(scenario, process).ConfigureAwait(false);
        return scenario;
    }
}
