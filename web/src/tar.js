// A model directory as .tar.gz, made in the browser (what `trackday push DIR` uploads): ustar
// headers for regular files, gzip by the browser's CompressionStream.

const enc = new TextEncoder();

function header(name, size, mtime) {
    const b = new Uint8Array(512);
    const put = (off, len, str) => b.set(enc.encode(str).subarray(0, len), off);
    const octal = (off, len, n) => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
    if (enc.encode(name).length > 100) throw new Error(`file name too long for tar: ${name}`);
    put(0, 100, name);
    octal(100, 8, 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, size);
    octal(136, 12, mtime);
    put(148, 8, '        ');
    b[156] = 0x30; // '0': a regular file
    put(257, 6, 'ustar\0');
    put(263, 2, '00');
    let sum = 0;
    for (const x of b) sum += x;
    put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    return b;
}

// files: [{name, text}] -> Blob (application/gzip)
export async function tarGz(files) {
    const parts = [];
    const mtime = Math.floor(Date.now() / 1000);
    for (const f of files) {
        const data = typeof f.text === 'string' ? enc.encode(f.text) : f.text;
        parts.push(header(f.name, data.length, mtime), data);
        const pad = (512 - (data.length % 512)) % 512;
        if (pad) parts.push(new Uint8Array(pad));
    }
    parts.push(new Uint8Array(1024));
    const stream = new Blob(parts).stream().pipeThrough(new CompressionStream('gzip'));
    return new Response(stream, { headers: { 'Content-Type': 'application/gzip' } }).blob();
}

const dec = new TextDecoder();

// Reads a .tar.gz (a model version's download) into [{name, data: Uint8Array}]: regular
// files only, names as stored (a leading "./" removed).
export async function untarGz(blob) {
    const stream = blob.stream().pipeThrough(new DecompressionStream('gzip'));
    const buf = new Uint8Array(await new Response(stream).arrayBuffer());
    const files = [];
    let longName = null;
    for (let off = 0; off + 512 <= buf.length;) {
        const hdr = buf.subarray(off, off + 512);
        if (hdr.every((b) => b === 0)) break;
        const str = (a, n) => dec.decode(hdr.subarray(a, a + n)).replace(/\0.*$/s, '');
        const size = parseInt(str(124, 12).trim() || '0', 8);
        const type = String.fromCharCode(hdr[156] || 0x30);
        let name = str(0, 100);
        const prefix = str(345, 155);
        if (prefix) name = `${prefix}/${name}`;
        const data = buf.subarray(off + 512, off + 512 + size);
        off += 512 + Math.ceil(size / 512) * 512;
        if (type === 'L') {
            longName = dec.decode(data).replace(/\0.*$/s, '');
            continue;
        }
        if (longName) {
            name = longName;
            longName = null;
        }
        if (type === 'x' || type === 'g') continue; // pax headers: names here are short
        if (type !== '0' && type !== '\0') continue;
        files.push({ name: name.replace(/^\.\//, ''), text: data });
    }
    return files;
}
