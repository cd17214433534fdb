// dockerode through the proxy, as dashboards use it. Prints one JSON line per result.
//   node client.js HOST list | inspect NAME | logs NAME | events NAME
// HOST is unix:///path, tcp://127.0.0.1:PORT, or https://127.0.0.1:PORT with DOCKER_CERT_PATH
// naming a directory of ca.pem, cert.pem and key.pem (mutual TLS, as dashboards configure it).
// Exit code 0 on success.
'use strict';
const fs = require('fs');
const path = require('path');
const Docker = require('dockerode');

const [host, operation, name] = process.argv.slice(2);

function connect() {
  if (host.startsWith('unix://')) {
    return new Docker({ socketPath: host.slice('unix://'.length) });
  }
  const url = new URL(host);
  const options = { host: url.hostname, port: Number(url.port), protocol: 'http' };
  if (url.protocol === 'https:') {
    const bundle = (file) => fs.readFileSync(path.join(process.env.DOCKER_CERT_PATH, file));
    Object.assign(options, {
      protocol: 'https', ca: bundle('ca.pem'), cert: bundle('cert.pem'), key: bundle('key.pem'),
    });
  }
  return new Docker(options);
}
const docker = connect();

const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const fail = (error) => {
  print({ error: String(error && error.message ? error.message : error),
          status: error && error.statusCode });
  process.exit(1);
};

async function main() {
  switch (operation) {
    case 'list':
      print((await docker.listContainers({ all: true })).map((c) => c.Names[0]));
      return;
    case 'inspect':
      print(await docker.getContainer(name).inspect());
      return;
    case 'logs': {
      // follow: the stream flows until three ticks arrived.
      const stream = await docker.getContainer(name).logs({ follow: true, stdout: true, tail: 1 });
      const ticks = [];
      stream.on('data', (data) => {
        for (const match of data.toString('latin1').matchAll(/tick (\d+)/g)) {
          ticks.push(Number(match[1]));
        }
        if (ticks.length >= 3) {
          print(ticks);
          stream.destroy();
          process.exit(0);
        }
      });
      stream.on('error', fail);
      return;
    }
    case 'events': {
      const stream = await docker.getEvents({ filters: { container: [name] } });
      print('subscribed');
      let pending = '';
      stream.on('data', (data) => {
        pending += data.toString();
        let newline;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const event = JSON.parse(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          print({ action: event.Action, name: event.Actor.Attributes.name });
          if (event.Action === 'pause') {
            stream.destroy();
            process.exit(0);
          }
        }
      });
      stream.on('error', fail);
      return;
    }
    case 'create':
      await docker.createContainer({ Image: 'socket-proxy-test/busybox:latest', Cmd: ['true'] });
      print('created');
      return;
    default:
      fail(`unknown operation ${operation}`);
  }
}

main().catch(fail);
