//! The upload page served at `/`.

/// A page that sends a photo to `/v1/privacy/blur` and shows original and result side by side.
pub const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Spate privacy</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; background: #f6f6f4; color: #222; }
 form { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin-bottom: 1rem; }
 .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
 figure { margin: 0; background: #fff; padding: .5rem; border: 1px solid #ddd; }
 figure img { max-width: 100%; display: block; }
 #status { min-height: 1.5em; }
 .error { color: #b00020; }
</style>
</head>
<body>
<h1>Vehicle photo privacy</h1>
<form id="f">
 <label>API key <input id="key" type="password" required></label>
 <label>Photo <input id="file" type="file" accept="image/jpeg,image/png,image/webp" required></label>
 <label>Style <select id="mode"><option value="pixelate">pixelate</option><option value="fill">solid fill</option></select></label>
 <label><input id="background" type="checkbox"> Blur the background</label>
 <button type="submit">Anonymise</button>
</form>
<p id="status"></p>
<div class="pair">
 <figure><figcaption>Original</figcaption><img id="original" alt=""></figure>
 <figure><figcaption>Result</figcaption><img id="result" alt=""></figure>
</div>
<script>
const $ = (id) => document.getElementById(id);
$("f").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("file").files[0];
  $("original").src = URL.createObjectURL(file);
  $("result").removeAttribute("src");
  $("status").className = "";
  $("status").textContent = "Working…";
  const started = performance.now();
  const background = $("background").checked ? "&background=blur" : "";
  const resp = await fetch("/v1/privacy/blur?mode=" + $("mode").value + background, {
    method: "POST",
    headers: { "X-API-Key": $("key").value, "Content-Type": file.type || "application/octet-stream" },
    body: file,
  });
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({ error: resp.statusText }));
    $("status").className = "error";
    $("status").textContent = resp.status + ": " + body.error;
    return;
  }
  $("result").src = URL.createObjectURL(await resp.blob());
  const ms = Math.round(performance.now() - started);
  $("status").textContent = `Done in ${ms} ms: ${resp.headers.get("x-detections") || 0} regions hidden.`;
});
</script>
</body>
</html>
"#;
